"""The similarity pass: a frozen, deterministic copy of this step's encoder."""
import torch

from .helpers import images, tiny_semaim


def test_no_gradient_through_similarity_and_modes_restored():
    model = tiny_semaim(32, 8)
    model.train()
    x = images(2, (32, 32))
    sim = model.similarity(x)
    assert not sim.requires_grad and sim.grad_fn is None
    assert sim.shape == (2, 16)
    torch.testing.assert_close(sim.sum(1), torch.ones(2))
    assert all(m.training for m in model.modules())
    model.eval()
    model.similarity(x)
    assert not any(m.training for m in model.modules())


def test_similarity_pass_has_no_dropout_or_drop_path():
    from mmpretrain.registry import MODELS
    model = MODELS.build(dict(
        type='SemAIM',
        backbone=dict(type='SemAIMViT',
                      arch=dict(embed_dims=32, num_layers=3, num_heads=4,
                                feedforward_channels=64),
                      img_size=32, patch_size=8, drop_rate=0.5,
                      drop_path_rate=0.5),
        neck=dict(type='SemAIMDecoder', num_heads=4, depth=3),
        head=dict(type='SemAIMHead', embed_dims=32)))
    model.init_weights()
    model.train()
    x = images(2, (32, 32))
    a, b = model.similarity(x), model.similarity(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    model.eval()
    torch.testing.assert_close(model.similarity(x), a, rtol=0, atol=0)


def test_loss_gradients_ignore_the_order_source():
    """The step's gradients equal those of the same step with its order
    handed in from outside: nothing flows through the similarity pass."""
    model = tiny_semaim(32, 8).double()
    x = images(2, (32, 32), dtype=torch.float64)
    torch.manual_seed(1)
    losses = model.loss(x)
    losses['loss'].backward()
    g1 = {n: p.grad.clone() for n, p in model.named_parameters()
          if p.grad is not None}
    model.zero_grad()
    torch.manual_seed(1)
    permutation = model.make_permutation(x)
    loss = model.loss(x, permutation=permutation)['loss']
    loss.backward()
    assert float(loss) == float(losses['loss'])
    assert 'sim_peak' in losses and float(losses['sim_peak']) >= 1.0
    for n, g in g1.items():
        torch.testing.assert_close(g, dict(model.named_parameters())[n].grad,
                                   rtol=0, atol=0)


def test_similarity_fp32_is_fp32_under_autocast():
    """similarity_fp32=True: the whole map (encoder pass, cosine, softmax)
    runs in fp32 outside autocast, so under CPU bf16 autocast it equals the
    fp32 map. Without it the encoder pass runs in the autocast dtype (the
    cosine and softmax stay fp32), so the map differs."""
    model = tiny_semaim(32, 8, similarity_fp32=True)
    x = images(2, (32, 32))
    fp32 = model.similarity(x)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got = model.similarity(x)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, fp32, rtol=1e-6, atol=1e-9)
    model.similarity_fp32 = False
    with torch.autocast('cpu', dtype=torch.bfloat16):
        low = model.similarity(x)
    assert low.dtype == torch.float32
    assert ((low - fp32).abs() / fp32).max() > 1e-3
