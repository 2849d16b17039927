"""SemAIMViTSeg + Feature2Pyramid: shapes, position-embedding interpolation
and equality with the pre-training encoder's computation."""
import pytest
import torch

from .conftest import tiny_backbone_cfg


def _build(cfg):
    from mmseg.registry import MODELS
    torch.manual_seed(0)
    m = MODELS.build(cfg)
    if hasattr(m, 'init_weights'):  # Feature2Pyramid is a plain nn.Module
        m.init_weights()
    m.eval()  # (mmpretrain's ViT.train() returns None)
    return m


@pytest.mark.parametrize('hw', [(64, 64), (96, 64), (48, 112)])
def test_backbone_and_neck_shapes(mmseg_scope, hw):
    backbone = _build(tiny_backbone_cfg())
    neck = _build(dict(type='Feature2Pyramid', embed_dim=32,
                       rescales=[4, 2, 1, 0.5], norm_cfg=dict(type='BN')))
    x = torch.randn(2, 3, *hw)
    with torch.no_grad():
        feats = backbone(x)
        pyramid = neck(feats)
    h, w = hw[0] // 16, hw[1] // 16
    assert [tuple(f.shape) for f in feats] == [(2, 32, h, w)] * 4
    assert [tuple(f.shape) for f in pyramid] == [
        (2, 32, h * 4, w * 4), (2, 32, h * 2, w * 2), (2, 32, h, w),
        (2, 32, h // 2, w // 2)]


def test_pads_sizes_not_divisible_by_patch(mmseg_scope):
    backbone = _build(tiny_backbone_cfg())
    with torch.no_grad():
        feats = backbone(torch.randn(1, 3, 50, 70))
    assert feats[0].shape[-2:] == (4, 5)  # ceil(50/16), ceil(70/16)


def test_features_equal_pretraining_encoder(mmseg_scope):
    """Same weights -> the outputs at out_indices are exactly the
    SemAIMViT encoder's hidden states (pos-embed interpolated to a
    non-square grid the same way)."""
    from semaim_mm.models import SemAIMViT
    backbone = _build(tiny_backbone_cfg(out_indices=(3, 11)))
    vit = SemAIMViT(arch=dict(embed_dims=32, num_layers=12, num_heads=2,
                              feedforward_channels=64), img_size=64,
                    patch_size=16)
    vit.eval()
    missing, unexpected = vit.load_state_dict(backbone.state_dict(),
                                              strict=False)
    assert not unexpected and set(missing) == {'ln1.weight', 'ln1.bias'}
    x = torch.randn(2, 3, 80, 48)
    with torch.no_grad():
        feats = backbone(x)
        tokens, _, _ = vit.embed(x)  # full attention, states after 4, 12
        states = []
        for i, layer in enumerate(vit.layers):
            tokens = layer(tokens)
            if i + 1 in (4, 12):
                states.append(tokens)
    for f, s in zip(feats, states):
        ref = s[:, 1:].transpose(1, 2).reshape(2, 32, 5, 3)
        torch.testing.assert_close(f, ref)


def test_pos_embed_interpolation_changes_with_grid(mmseg_scope):
    """A 128x128 input (8x8 grid) uses an interpolated embedding, not the
    4x4 one: identical patches at different places give different
    features."""
    backbone = _build(tiny_backbone_cfg(out_indices=(0,)))
    x = torch.zeros(1, 3, 128, 128)
    with torch.no_grad():
        f = backbone(x)[0]
    assert f.shape[-2:] == (8, 8)
    assert not torch.allclose(f[..., 0, 0], f[..., 7, 7])
