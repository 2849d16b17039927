"""The fixed 2-D sin-cos position table: the authors' (MAE's) layout, raster
order on any grid, resized along the right axes, and old tables still load."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmpretrain.models.utils import build_2d_sincos_position_embedding

from semaim_mm.models import SemAIMViT, sincos_pos_embed

from .helpers import images, tiny_semaim

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
AUTHORS_CKPT = osp.join(ROOT, '..', 'shared', 'fixtures', 'semaim_reference',
                        'main_pretrain_1proc.pth')


def authors_table(dim, h, w):
    """MAE's util/pos_embed.py get_2d_sincos_pos_embed (the authors' code
    imports it), written out in numpy, with the grid (h, w) in raster order;
    (1 + h*w, dim) with the zero CLS row."""
    def one_axis(d, pos):
        omega = 1. / 10000**(np.arange(d // 2, dtype=np.float64) / (d / 2.))
        out = np.einsum('m,d->md', pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    grid = np.meshgrid(np.arange(w, dtype=np.float32),
                       np.arange(h, dtype=np.float32))  # w first, as MAE
    grid = np.stack(grid, axis=0).reshape(2, 1, h, w)
    emb = np.concatenate([one_axis(dim // 2, grid[0]),
                          one_axis(dim // 2, grid[1])], axis=1)
    emb = np.concatenate([np.zeros([1, dim]), emb], axis=0)
    return torch.from_numpy(emb).float()


def row_first_table(dim, h, w):
    """The table SemAIMViT built before it took the authors' layout: first
    half of the channels the row, second the column."""
    rows = torch.arange(h, dtype=torch.float32).repeat_interleave(w)
    cols = torch.arange(w, dtype=torch.float32).repeat(h)
    q = dim // 4
    omega = 1. / 10000.**(torch.arange(q) / q)
    r, c = rows[:, None] * omega, cols[:, None] * omega
    pos = torch.cat([r.sin(), r.cos(), c.sin(), c.cos()], 1)
    return torch.cat([torch.zeros(1, dim), pos])[None]


@pytest.mark.parametrize('grid', [(7, 7), (14, 14), (3, 5), (12, 16)])
@pytest.mark.parametrize('dim', [32, 64, 768])
def test_equals_the_authors_formula(grid, dim):
    ours = sincos_pos_embed(grid, dim)
    assert ours.shape == (1, 1 + grid[0] * grid[1], dim)
    torch.testing.assert_close(ours[0], authors_table(dim, *grid), rtol=0,
                               atol=1e-6)


def test_equals_the_table_in_an_authors_checkpoint():
    """A checkpoint written by the authors' code (14x14 grid, width 64)
    holds exactly this table."""
    if not osp.exists(AUTHORS_CKPT):
        pytest.skip(f'fixture {AUTHORS_CKPT} not present')
    sd = torch.load(AUTHORS_CKPT, map_location='cpu',
                    weights_only=True)['state_dict']
    assert torch.equal(sd['pos_embed'], sincos_pos_embed((14, 14), 64))


@pytest.mark.parametrize('grid', [(7, 7), (3, 5), (12, 16)])
def test_mmpretrain_table_is_this_one_in_column_major_order(grid):
    """mmpretrain's build_2d_sincos_position_embedding lists its tokens
    column-major; reordered to raster it is this table (on square grids:
    this table with rows and columns swapped)."""
    h, w = grid
    ours = sincos_pos_embed(grid, 64)[0, 1:]
    mm = build_2d_sincos_position_embedding((h, w), 64)[0]
    raster = mm.reshape(w, h, 64).transpose(0, 1).reshape(h * w, 64)
    torch.testing.assert_close(raster, ours, rtol=0, atol=1e-5)
    if h == w:
        assert not torch.allclose(mm, ours, atol=1e-3)


def test_raster_order_channel_halves_follow_column_and_row():
    h, w, dim = 3, 5, 32
    pos = sincos_pos_embed((h, w), dim)[0, 1:].reshape(h, w, dim)
    col_half, row_half = pos[..., :dim // 2], pos[..., dim // 2:]
    # the column half is the same in every row, the row half in every column
    assert torch.equal(col_half, col_half[:1].expand_as(col_half))
    assert torch.equal(row_half, row_half[:, :1].expand_as(row_half))
    assert not torch.equal(col_half[:, 0], col_half[:, 1])
    assert not torch.equal(row_half[0], row_half[1])


def formula_error(table, src, dst):
    """Largest difference of a resized (dst_h, dst_w, D) table from the
    formula at the positions it interpolated (bicubic, align_corners=False:
    output index i samples source position (i + 0.5) * src / dst - 0.5),
    away from the border, where the kernel clamps."""
    dim = table.shape[-1]
    q = dim // 4
    omega = 1. / 10000.**(torch.arange(q, dtype=torch.float64) / q)
    r, c = [(torch.arange(d, dtype=torch.float64) + 0.5) * s / d - 0.5
            for s, d in zip(src, dst)]
    rr, cc = torch.meshgrid(r, c, indexing='ij')
    want = torch.cat([(cc[..., None] * omega).sin(),
                      (cc[..., None] * omega).cos(),
                      (rr[..., None] * omega).sin(),
                      (rr[..., None] * omega).cos()], -1)
    return (table.double() - want)[4:-4, 4:-4].abs().max().item()


def test_resize_of_a_non_square_table_keeps_the_axes():
    """A 12x16 table interpolated to 24x32 (SemAIMViT.embed on a larger
    input) has the structure of the table built at 24x32 (the column half
    varies along the columns only, the row half along the rows only) and
    the formula's values at the interpolated positions; mmpretrain's
    column-major table resized the same way does not."""
    dim = 64
    vit = SemAIMViT(arch=dict(embed_dims=dim, num_layers=1, num_heads=4,
                              feedforward_channels=128),
                    img_size=(48, 64), patch_size=4)
    assert vit.patch_resolution == (12, 16)
    x = images(1, (96, 128))
    _, pos, grid = vit.embed(x)
    assert grid == (24, 32)
    resized = pos[0, 1:].reshape(24, 32, dim)
    direct = sincos_pos_embed((24, 32), dim)[0, 1:].reshape(24, 32, dim)
    for table in (resized, direct):
        col_half, row_half = table[..., :dim // 2], table[..., dim // 2:]
        torch.testing.assert_close(
            col_half, col_half[:1].expand_as(col_half), rtol=0, atol=1e-5)
        torch.testing.assert_close(
            row_half, row_half[:, :1].expand_as(row_half), rtol=0, atol=1e-5)
    # bicubic (a=-0.75) is close, not exact: 3e-2 on the fastest channel
    assert formula_error(resized, (12, 16), (24, 32)) < 0.05
    column_major = build_2d_sincos_position_embedding((12, 16), dim,
                                                      cls_token=True)
    vit.pos_embed.data.copy_(column_major)
    _, wrong, _ = vit.embed(x)
    assert formula_error(wrong[0, 1:].reshape(24, 32, dim), (12, 16),
                         (24, 32)) > 0.5


def test_checkpoint_with_the_old_table_loads_and_is_used(tmp_path):
    """The table is a (frozen) parameter: a checkpoint saved with the
    row-first table loads into a new model, which then computes exactly what
    the saved model computed."""
    from mmengine.runner import load_checkpoint
    saved = tiny_semaim(32, 8)
    old = row_first_table(32, 4, 4)
    assert not torch.allclose(old, saved.backbone.pos_embed)
    saved.backbone.pos_embed.data.copy_(old)
    path = str(tmp_path / 'old.pth')
    torch.save(dict(state_dict=saved.state_dict()), path)

    model = tiny_semaim(32, 8)
    load_checkpoint(model, path, map_location='cpu', strict=True)
    assert torch.equal(model.backbone.pos_embed, old)
    x = images(2, (32, 32))
    _, pos, _ = model.backbone.embed(x)
    assert torch.equal(pos, old)
    permutation = saved.make_permutation(x)
    torch.testing.assert_close(
        model.loss(x, permutation=permutation)['loss'],
        saved.loss(x, permutation=permutation)['loss'],
        rtol=0, atol=0)
