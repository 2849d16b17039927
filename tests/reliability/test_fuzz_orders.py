"""Hypothesis fuzzing of the order generators and the paper's mask builder."""
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semaim_mm.models.attention import autoregressive_masks
from semaim_mm.models.orders import (build_order_rule, draw_noise,
                                     mean_filter)

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
ORDER_CFGS = [
    'raster', 'stochastic', 'similarity', 'semantic', 'semantic_official',
    dict(type='semantic_multicenter', num_centers=2),
    dict(type='semantic_multicenter', num_centers=5, filter_size=1),
    dict(type='semantic', lam=0.0, filter_size=5),
]
SIM_KINDS = ('random', 'constant', 'one_hot', 'ties', 'extremes')


def make_similarity(kind, B, N, seed):
    g = torch.Generator().manual_seed(seed)
    if kind == 'constant':
        return torch.full((B, N), 1.0 / N)
    if kind == 'one_hot':
        s = torch.zeros(B, N)
        s[torch.arange(B), torch.randint(N, (B,), generator=g)] = 1.0
        return s
    if kind == 'ties':  # two values only: many exact ties
        return torch.randint(2, (B, N), generator=g).float() / N
    if kind == 'extremes':  # softmax of huge logits: 0/1 and denormals
        logits = torch.randn(B, N, generator=g) * 1e4
        return logits.softmax(dim=-1)
    return torch.rand(B, N, generator=g).softmax(dim=-1)


grids = st.tuples(st.integers(1, 9), st.integers(1, 9))


@SETTINGS
@given(grid=grids, batch=st.integers(1, 3), seed=st.integers(0, 2**40),
       kind=st.sampled_from(SIM_KINDS),
       cfg=st.sampled_from(range(len(ORDER_CFGS))))
def test_order_invariants(grid, batch, seed, kind, cfg):
    h, w = grid
    n = h * w
    order_fn = build_order_rule(ORDER_CFGS[cfg])
    sim = make_similarity(kind, batch, n, seed)
    noise = draw_noise([seed + b for b in range(batch)], n)
    order = order_fn(sim, grid, noise)
    perm, rank, c = order.perm, order.rank, order.centerness
    assert perm.shape == rank.shape == c.shape == (batch, n)
    assert torch.isfinite(c).all()
    ar = torch.arange(n).expand(batch, n)
    # a valid permutation, rank its inverse
    assert torch.equal(perm.sort(dim=1).values, ar)
    assert torch.equal(torch.gather(rank, 1, perm), ar)
    assert torch.equal(torch.gather(perm, 1, rank), ar)
    # perm sorts the centerness
    sorted_c = torch.gather(c, 1, perm)
    assert (sorted_c[:, 1:] >= sorted_c[:, :-1]).all()
    name = order_fn.__class__.__name__
    if name == 'RasterOrder':
        assert torch.equal(perm, ar)
    if name in ('SemanticOrder', 'OfficialSemanticOrder',
                'MultiCenterSemanticOrder') and order_fn.lam < 1:
        centers = order_fn.centers(sim, grid)
        # the first patch predicted is a centre (the argmax for one centre)
        assert (perm[:, :1] == centers).any(dim=1).all()
        if name != 'MultiCenterSemanticOrder':
            filt = mean_filter(sim, grid, order_fn.filter_size)
            assert torch.equal(perm[:, 0], filt.argmax(dim=1))


@SETTINGS
@given(grid=grids, seed=st.integers(0, 2**40))
def test_order_noise_is_batch_independent(grid, seed):
    n = grid[0] * grid[1]
    both = draw_noise([seed, seed + 1], n)
    assert torch.equal(both[1], draw_noise([seed + 1], n)[0])


@SETTINGS
@given(grid=grids, batch=st.integers(1, 3), seed=st.integers(0, 2**40),
       kind=st.sampled_from(SIM_KINDS),
       cfg=st.sampled_from(range(len(ORDER_CFGS))))
def test_mask_invariants(grid, batch, seed, kind, cfg):
    n = grid[0] * grid[1]
    order = build_order_rule(ORDER_CFGS[cfg])(
        make_similarity(kind, batch, n, seed), grid,
        draw_noise([seed + b for b in range(batch)], n))
    for cent in (order.rank.float(), order.centerness):
        enc, dec = autoregressive_masks(cent)
        assert enc.shape == dec.shape == (batch, 1, n + 1, n + 1)
        assert set(enc.unique().tolist()) <= {0.0, float('-inf')}
        e, d = enc[:, 0] == 0, dec[:, 0] == 0  # allowed
        # CLS row sees only itself; every patch sees CLS
        assert e[:, 0, 0].all() and d[:, 0, 0].all()
        assert not e[:, 0, 1:].any() and not d[:, 0, 1:].any()
        assert e[:, 1:, 0].all() and d[:, 1:, 0].all()
        # encoder = decoder + diagonal (+ ties); decoder strictly earlier
        assert (e | ~d).all()  # enc ⊇ dec
        eye = torch.eye(n, dtype=torch.bool).expand(batch, n, n)
        assert e[:, 1:, 1:][eye].all() and not d[:, 1:, 1:][eye].any()
        ci, cj = cent.unsqueeze(-1), cent.unsqueeze(1)
        assert torch.equal(e[:, 1:, 1:], ci >= cj)
        assert torch.equal(d[:, 1:, 1:], ci > cj)
    # with ranks (no ties) the masks are exactly causal in order
    enc, dec = autoregressive_masks(order.rank.float())
    r = order.rank
    assert torch.equal(enc[:, 0, 1:, 1:] == 0, r.unsqueeze(-1) >= r.unsqueeze(1))
    assert torch.equal((enc[:, 0, 1:, 1:] == 0).sum(-1), r + 1)
    assert torch.equal((dec[:, 0, 1:, 1:] == 0).sum(-1), r)


@pytest.mark.parametrize('cfg,exc', [
    (dict(type='semantic', lam=-0.1), ValueError),
    (dict(type='semantic', filter_size=2), ValueError),
    (dict(type='semantic_multicenter', num_centers=0), ValueError),
    (dict(type='no_such_order'), ValueError),
])
def test_bad_order_config(cfg, exc):
    with pytest.raises(exc):
        build_order_rule(cfg)
