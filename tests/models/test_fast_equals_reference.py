"""The fast path (ordered tokens + causal SDPA) computes exactly the paper's
masked attention (reference path): same loss and same gradients."""
import pytest
import torch

from .helpers import images, tiny_semaim

ORDERS = ['raster', 'stochastic', 'similarity', 'semantic',
          'semantic_official', dict(type='semantic_multicenter',
                                    num_centers=2)]


def loss_and_grads(model, x, permutation, path):
    model.attention_path = path
    model.zero_grad()
    loss = model.loss(x, permutation=permutation)['loss']
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()
             if p.grad is not None}
    return loss.detach(), grads


def assert_paths_equal(model, x):
    """fp32: loss within rtol 1e-5; gradients within 1e-4 relative, with an
    absolute floor of 1e-5 of the model's largest gradient entry (entries near
    zero, e.g. the key biases whose true gradient is 0, differ by summation
    order only: in fp64 the paths agree to 1e-12)."""
    permutation = model.make_permutation(x)
    # Different images get different orders within one batch.
    assert not torch.equal(permutation.perm[0], permutation.perm[1]) or \
        type(model.order_rule).__name__ == 'RasterOrder'
    loss_f, grads_f = loss_and_grads(model, x, permutation, 'fast')
    loss_r, grads_r = loss_and_grads(model, x, permutation, 'reference')
    torch.testing.assert_close(loss_f, loss_r, rtol=1e-5, atol=0)
    assert grads_f.keys() == grads_r.keys()
    assert len(grads_f) > 20
    scale = max(float(g.abs().max()) for g in grads_r.values())
    for name in grads_f:
        torch.testing.assert_close(grads_f[name], grads_r[name], rtol=1e-4,
                                   atol=1e-5 * scale, msg=name)


@pytest.mark.parametrize('order', ORDERS)
@pytest.mark.parametrize('grid', [(4, 4), (7, 7), (12, 16)])
def test_every_order_and_grid(order, grid):
    patch = 4
    model = tiny_semaim((grid[0] * patch, grid[1] * patch), patch, depth=3,
                        decoder_depth=3, order=order)
    assert_paths_equal(model, images(3, (grid[0] * patch, grid[1] * patch)))


@pytest.mark.parametrize('decoder_depth', [1, 5, 12])
@pytest.mark.parametrize('tap', ['after', 'before'])
def test_decoder_depths_with_12_block_encoder(decoder_depth, tap):
    from mmpretrain.registry import MODELS
    model = MODELS.build(
        dict(type='SemAIM',
             backbone=dict(type='SemAIMViT',
                           arch=dict(embed_dims=32, num_layers=12,
                                     num_heads=4, feedforward_channels=64),
                           img_size=28, patch_size=4),
             neck=dict(type='SemAIMDecoder', num_heads=4,
                       depth=decoder_depth, tap=tap),
             head=dict(type='SemAIMHead', embed_dims=32),
             order='semantic'))
    model.init_weights()
    assert_paths_equal(model, images(2, (28, 28)))


def test_vit_base_grid_14x14():
    model = tiny_semaim(224, 16, depth=2, decoder_depth=2, order='semantic')
    assert_paths_equal(model, images(2, (224, 224)))


def test_fp64_paths_agree_to_rounding():
    model = tiny_semaim((24, 32), 4, depth=4, decoder_depth=3,
                        order='semantic').double()
    x = images(2, (24, 32), dtype=torch.float64)
    permutation = model.make_permutation(x)
    loss_f, grads_f = loss_and_grads(model, x, permutation, 'fast')
    loss_r, grads_r = loss_and_grads(model, x, permutation, 'reference')
    assert abs(float(loss_f - loss_r)) < 1e-12
    for name in grads_f:
        torch.testing.assert_close(grads_f[name], grads_r[name], rtol=1e-9,
                                   atol=1e-12, msg=name)
