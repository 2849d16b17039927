"""Fig. 2 panels: the PNG is written and the data behind it is valid."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from semaim_mm.models.orders import mean_filter
from semaim_mm.visualization import cls_attention, visualize_orders

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def model():
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs', 'pretrain', 'semaim_vit-tiny-p4_fashion-mnist.py'))
    cfg.model.backbone.arch = dict(embed_dims=32, num_layers=2, num_heads=2,
                                   feedforward_channels=64)
    cfg.model.neck.num_heads = 2
    cfg.model.neck.depth = 2
    cfg.model.head.embed_dims = 32
    torch.manual_seed(0)
    m = MODELS.build(cfg.model)
    m.init_weights()
    return m.eval()


def test_png_and_valid_orders(model, tmp_path):
    x = torch.randn(3, 3, 28, 28)
    out = str(tmp_path / 'fig2.png')
    panels = visualize_orders(model, x, out, titles=['a', 'b', 'c'])
    assert osp.getsize(out) > 1000
    from PIL import Image
    with Image.open(out) as im:
        assert im.format == 'PNG' and im.size[0] > 200
    data = np.load(out + '.npz')
    ranks = data['rank']
    names = list(data['order_names'])
    assert names == ['raster', 'stochastic', 'similarity', 'semantic',
                     'multi-centre']
    g = model.backbone.patch_resolution[0]  # square grid
    n = g * g
    assert ranks.shape == (3, 5, g, g)
    for b in range(3):
        for j in range(5):
            assert sorted(ranks[b, j].ravel().tolist()) == list(range(n))
    # raster is row-major; similarity order starts at argmax S; semantic at
    # the argmax of the 3x3-filtered S, and ranks grow with distance from it
    assert (ranks[:, 0].reshape(3, -1) == np.arange(n)).all()
    sim = data['similarity'].reshape(3, -1)
    assert (ranks[:, 2].reshape(3, -1).argmin(1) == sim.argmax(1)).all()
    centre = mean_filter(torch.from_numpy(sim), (g, g), 3).argmax(1).numpy()
    sem = ranks[:, 3].reshape(3, -1)
    assert (sem.argmin(1) == centre).all()
    for b in range(3):
        cy, cx = divmod(int(centre[b]), g)
        dist = np.hypot(np.arange(n) // g - cy, np.arange(n) % g - cx)
        order = np.argsort(sem[b])
        assert (np.diff(dist[order]) >= -1e-6).all()
    # the drawn panels are the returned ones
    assert np.array_equal(panels['rank'], ranks)
    assert np.allclose(sim.sum(1), 1, atol=1e-5)


def test_cls_attention_matches_block(model):
    """Weights from qkv reproduce the last block's attention output."""
    x = torch.randn(2, 3, 28, 28)
    bb = model.backbone
    att = cls_attention(bb, x)
    assert att.shape == (2, bb.patch_resolution[0] * bb.patch_resolution[1])
    assert ((att > 0) & (att.sum(1, keepdim=True) < 1)).all()
    tokens, _, _ = bb.embed(x)
    for layer in bb.layers[:-1]:
        tokens = layer(tokens)
    last = bb.layers[-1]
    h = last.ln1(tokens)
    B, N1, C = h.shape
    q, k, v = last.attn.qkv(h).reshape(B, N1, 3, 2, C // 2).permute(
        2, 0, 3, 1, 4)
    w = ((q @ k.transpose(-2, -1)) * (C // 2)**-0.5).softmax(-1)
    out = (w @ v).transpose(1, 2).reshape(B, N1, C)
    expected = last.attn.proj(out)
    assert torch.allclose(last.attn(h), expected, atol=1e-5)
    assert torch.allclose(w[:, :, 0, 1:].mean(1), att, atol=1e-6)


def test_visualize_order_tool(tmp_path):
    import sys
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import visualize_order
    from PIL import Image
    img = tmp_path / 'x.png'
    Image.fromarray((np.random.RandomState(0).rand(40, 30, 3) * 255).astype(
        np.uint8)).save(img)
    out = str(tmp_path / 'o.png')
    visualize_order.main([
        osp.join(ROOT, 'configs', 'pretrain',
                 'semaim_vit-tiny-p4_fashion-mnist.py'), 'none', str(img),
        '--out', out])
    ranks = np.load(out + '.npz')['rank']
    assert ranks.shape == (1, 5, 7, 7)
    assert all(sorted(r.ravel()) == list(range(49)) for r in ranks[0])


def test_chosen_centres_are_recorded(model, tmp_path):
    """The outlined centres: the semantic order's centre is its first
    patch; the multi-centre order has two; other orders none."""
    out = str(tmp_path / 'fig2.png')
    panels = visualize_orders(model, torch.randn(2, 3, 28, 28), out)
    centers, ranks = panels['centers'], panels['rank']
    names = list(panels['order_names'])
    sem, multi = names.index('semantic'), names.index('multi-centre')
    for b in range(2):
        assert centers[b, sem, 0] == ranks[b, sem].reshape(-1).argmin()
        assert (centers[b, sem, 1:] == -1).all()
        assert (centers[b, multi] >= 0).sum() == 2
        assert (centers[b, names.index('raster')] == -1).all()
    assert (np.load(out + '.npz')['centers'] == centers).all()
