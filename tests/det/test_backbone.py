"""SemAIMViTDet: pyramid shapes, window/global attention locality, padding,
relative positions, position-embedding interpolation, activation
checkpointing."""
import pytest
import torch

from mmpretrain.models.utils import resize_pos_embed  # noqa: E402

from semaim_mm.det import SemAIMViTDet  # noqa: E402
from semaim_mm.det.backbone import decomposed_rel_pos_bias  # noqa: E402

ARCH = dict(embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=64)


def make(**kw):
    cfg = dict(arch=ARCH, img_size=64, pretrain_img_size=64, patch_size=16,
               window_size=2, drop_path_rate=0.)
    cfg.update(kw)
    m = SemAIMViTDet(**cfg)
    m.init_weights()
    return m.eval()


@pytest.mark.parametrize('pyramid,channels', [
    ('multilevel', (32, 32, 32, 32)), ('simple', (8, 16, 32, 32))])
@pytest.mark.parametrize('hw', [(64, 64), (64, 96), (96, 32)])
def test_pyramid_strides_channels(pyramid, channels, hw):
    m = make(pyramid=pyramid)
    assert m.out_channels == channels
    outs = m(torch.randn(2, 3, *hw))
    assert len(outs) == 4
    for o, c, s in zip(outs, channels, (4, 8, 16, 32)):
        assert o.shape == (2, c, hw[0] // s, hw[1] // s)



@pytest.mark.parametrize('patch,channels', [
    (8, (16, 32, 32, 32)), (32, (4, 8, 16, 32))])
def test_pyramid_other_patch_sizes(patch, channels):
    """Strides stay 4/8/16/32 for any power-of-two patch size: patch 8 needs
    one deconv and two poolings, patch 32 three deconvs."""
    m = make(pyramid='simple', patch_size=patch, img_size=64,
             pretrain_img_size=64, window_size=1)
    assert m.out_channels == channels
    outs = m(torch.randn(1, 3, 64, 64))
    for o, c, s in zip(outs, channels, (4, 8, 16, 32)):
        assert o.shape == (1, c, 64 // s, 64 // s)
    with pytest.raises(ValueError, match='power-of-two'):
        make(patch_size=12, img_size=48, pretrain_img_size=48)

def test_defaults_vitb():
    m = SemAIMViTDet(arch='base')
    assert m.global_attn_indexes == (2, 5, 8, 11)
    assert m.out_indices == (2, 5, 8, 11)
    assert m.layers[0].window_size == 14 and m.layers[2].window_size == 0
    assert m.layers[2].attn.rel_pos_h.shape == (2 * 64 - 1, 64)  # 1024/16
    assert m.layers[0].attn.rel_pos_h.shape == (2 * 14 - 1, 64)
    assert m.pos_embed.shape == (1, 1 + 14 * 14, 768)
    assert m.layers[-1].ffn.dropout_layer.drop_prob == pytest.approx(0.1)


def _changed(m, hw, patch):
    """Which tokens of the last block's output change when one pixel of
    ``patch`` (row, col of the token grid) is perturbed."""
    torch.manual_seed(1)
    x = torch.randn(1, 3, *hw)
    y = x.clone()
    y[0, :, patch[0] * 16 + 3, patch[1] * 16 + 5] += 5.
    with torch.no_grad():
        a, b = m(x)[2], m(y)[2]  # simple pyramid level 2 = token grid
    return (a - b).abs().amax(1)[0] > 1e-6


def test_window_blocks_stay_in_windows():
    m = make(pyramid='simple', global_attn_indexes=())
    for layer in m.layers:  # non-zero relative tables too
        torch.nn.init.normal_(layer.attn.rel_pos_h, std=0.5)
        torch.nn.init.normal_(layer.attn.rel_pos_w, std=0.5)
    changed = _changed(m, (64, 64), (0, 1))  # 4x4 grid, 2x2 windows
    expected = torch.zeros(4, 4, dtype=torch.bool)
    expected[:2, :2] = True
    assert torch.equal(changed, expected)
    changed = _changed(m, (64, 64), (3, 2))
    expected = torch.zeros(4, 4, dtype=torch.bool)
    expected[2:, 2:] = True
    assert torch.equal(changed, expected)


def test_global_block_attends_everywhere():
    m = make(pyramid='simple', global_attn_indexes=(3, ))
    assert _changed(m, (64, 64), (0, 1)).all()
    m = make(pyramid='simple', global_attn_indexes=(0, ))
    assert _changed(m, (64, 96), (3, 5)).all()


def test_window_padding_non_multiple():
    # 5x5 grid, window 2 -> padded to 6x6; the corner token is alone in its
    # window (with padding), so only it changes.
    m = make(pyramid='simple', global_attn_indexes=(), img_size=80)
    changed = _changed(m, (80, 80), (4, 4))
    expected = torch.zeros(5, 5, dtype=torch.bool)
    expected[4, 4] = True
    assert torch.equal(changed, expected)
    changed = _changed(m, (80, 80), (4, 1))
    expected = torch.zeros(5, 5, dtype=torch.bool)
    expected[4, :2] = True
    assert torch.equal(changed, expected)


@pytest.mark.parametrize('hw', [(3, 3), (4, 2)])
def test_relative_bias_offsets(hw):
    """bias[(i, j), (k, l)] = q_ij . Rh[i - k] + q_ij . Rw[j - l] (tables
    indexed from offset -(L-1)), and equals mmpretrain's
    add_decomposed_rel_pos on zero scores."""
    from mmpretrain.models.backbones.vit_sam import add_decomposed_rel_pos
    H, W = hw
    d = 3
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 2, H * W, d, generator=g)
    rh = torch.randn(2 * H - 1, d, generator=g)
    rw = torch.randn(2 * W - 1, d, generator=g)
    bias = decomposed_rel_pos_bias(q, rh, rw, (H, W))
    assert bias.shape == (2, 2, H * W, H * W)
    for i in range(H):
        for j in range(W):
            for k in range(H):
                for m in range(W):
                    want = q[:, :, i * W + j] @ (rh[i - k + H - 1] +
                                                 rw[j - m + W - 1])
                    torch.testing.assert_close(
                        bias[:, :, i * W + j, k * W + m], want)
    upstream = add_decomposed_rel_pos(
        torch.zeros(4, H * W, H * W), q.reshape(4, H * W, d), rh, rw,
        (H, W), (H, W))
    torch.testing.assert_close(bias.reshape(4, H * W, H * W), upstream)


def test_pos_embed_interpolation():
    m = make(pretrain_img_size=224)  # pre-training grid 14x14
    pos = m.pos_embed
    assert torch.equal(m.abs_pos_embed((14, 14))[0],
                       pos[0, 1:].reshape(14, 14, -1))
    ref = resize_pos_embed(pos, (14, 14), (64, 64), 'bicubic', 1)
    assert torch.allclose(m.abs_pos_embed((64, 64))[0],
                          ref[0, 1:].reshape(64, 64, -1))
    # non-square grid
    ref = resize_pos_embed(pos, (14, 14), (4, 6), 'bicubic', 1)
    assert torch.allclose(m.abs_pos_embed((4, 6))[0],
                          ref[0, 1:].reshape(4, 6, -1))
    # a checkpoint already interpolated to 64x64 is resized back to 14x14
    big = resize_pos_embed(pos.detach(), (14, 14), (64, 64), 'bicubic', 1)
    m2 = make(pretrain_img_size=224)
    m2.load_state_dict({'pos_embed': big}, strict=False)
    assert m2.pos_embed.shape == pos.shape
    assert torch.allclose(m2.pos_embed, pos, atol=0.05)


def test_activation_checkpointing_same_grads():
    torch.manual_seed(0)
    m = make(drop_path_rate=0.).train()
    m_cp = make(drop_path_rate=0., with_cp=True).train()
    m_cp.load_state_dict(m.state_dict())
    x = torch.randn(1, 3, 64, 64)
    outs = m(x)
    outs_cp = m_cp(x)
    sum(o.sum() for o in outs).backward()
    sum(o.sum() for o in outs_cp).backward()
    for (n, p), (_, q) in zip(m.named_parameters(), m_cp.named_parameters()):
        if p.grad is None:
            assert q.grad is None
            continue
        assert torch.allclose(p.grad, q.grad, atol=1e-5), n


def test_rejects_bad_sizes():
    with pytest.raises(ValueError, match='pyramid'):
        make(pyramid='fpn')
    with pytest.raises(ValueError, match='divisible'):
        make()(torch.randn(1, 3, 60, 64))


def test_not_imported_by_semaim_mm():
    # (mmpretrain 1.2.0 itself imports mmdet when it is installed, in
    # mmpretrain/models/utils/res_layer_extra_norm.py; what matters is that
    # semaim_mm does not load or register its detection modules.)
    import subprocess
    import sys
    code = ('import sys, semaim_mm; '
            "bad = [m for m in sys.modules if m.startswith('semaim_mm.det')]; "
            'assert not bad, bad')
    subprocess.run([sys.executable, '-c', code], check=True)
