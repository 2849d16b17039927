"""Invariants of every autoregression order."""
import pytest
import torch

from semaim_mm.models import build_order_rule, draw_noise
from semaim_mm.models.orders import ORDERS, grid_coords, mean_filter

GRIDS = [(3, 5), (5, 3), (4, 4), (7, 9), (14, 14), (12, 16), (16, 16)]


def inputs(grid, batch=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    n = grid[0] * grid[1]
    sim = torch.rand(batch, n, generator=g).softmax(-1)
    noise = torch.rand(batch, n, generator=g)
    return sim, noise


@pytest.mark.parametrize('name', sorted(ORDERS.module_dict))
@pytest.mark.parametrize('grid', GRIDS)
def test_valid_permutations(name, grid):
    sim, noise = inputs(grid)
    order = build_order_rule(name)(sim, grid, noise)
    n = grid[0] * grid[1]
    assert order.perm.shape == (3, n) and order.perm.dtype == torch.long
    assert torch.equal(order.perm.sort(1).values,
                       torch.arange(n).expand(3, n))
    assert torch.equal(torch.gather(order.rank, 1, order.perm),
                       torch.arange(n).expand(3, n))
    # perm sorts the centerness.
    c = torch.gather(order.centerness, 1, order.perm)
    assert (c[:, 1:] >= c[:, :-1]).all()


@pytest.mark.parametrize('grid', GRIDS)
@pytest.mark.parametrize('filter_size', [1, 3, 5])
def test_semantic_centre_and_distance(grid, filter_size):
    sim, noise = inputs(grid)
    lam = 0.01
    order = build_order_rule(dict(type='semantic', lam=lam,
                                  filter_size=filter_size))(sim, grid, noise)
    centre = mean_filter(sim, grid, filter_size).argmax(1)
    assert torch.equal(order.perm[:, 0], centre)
    rows, cols = grid_coords(grid)
    cr, cc = (centre // grid[1]).float(), (centre % grid[1]).float()
    dist = ((rows - cr[:, None])**2 + (cols - cc[:, None])**2).sqrt()
    d_in_order = torch.gather(dist, 1, order.perm)
    # Non-decreasing distance from the centre, except within lambda.
    assert (d_in_order[:, 1:] >= d_in_order[:, :-1] - lam).all()


def test_paper_filter_smooths_before_argmax():
    grid = (5, 5)
    sim = torch.zeros(1, 25)
    sim[0, 0] = 1.0  # a lone spike in a corner ...
    sim[0, [11, 12, 13, 7, 17]] = 0.6  # ... and a broad blob in the middle
    noise = torch.zeros(1, 25)
    assert build_order_rule('semantic')(sim, grid, noise).perm[0, 0] == 12
    assert build_order_rule('semantic_official')(sim, grid, noise).perm[0, 0] == 0


def test_zero_padded_filter_keeps_an_interior_peak_next_to_the_border():
    # S peaks at (1, 1); its border neighbours are high too. The paper's
    # zero-padded filter keeps (1, 1) the centre (averaging only the valid
    # neighbours would let the corner (0, 0) win: 4 values, 3 high).
    grid = (4, 4)
    sim = torch.full((1, 16), 0.01)
    sim[0, 5] = 1.0  # (1, 1)
    sim[0, [0, 1, 4]] = 0.9  # (0, 0), (0, 1), (1, 0)
    noise = torch.zeros(1, 16)
    assert build_order_rule('semantic')(sim, grid, noise).perm[0, 0] == 5
    assert build_order_rule('semantic_multicenter').centers(sim, grid)[0, 0] == 5
    zero = mean_filter(sim, grid, 3).reshape(4, 4)
    assert zero[0, 0].item() == pytest.approx((1.0 + 3 * 0.9) / 9)
    assert zero[1, 1].item() == pytest.approx((1.0 + 3 * 0.9 + 5 * 0.01) / 9)


def test_multicenter_with_one_centre_equals_semantic():
    for grid in GRIDS:
        sim, noise = inputs(grid)
        a = build_order_rule('semantic')(sim, grid, noise)
        b = build_order_rule(dict(type='semantic_multicenter',
                                  num_centers=1))(sim, grid, noise)
        assert torch.equal(a.perm, b.perm)
        assert torch.equal(a.centerness, b.centerness)


def test_multicenter_starts_at_distinct_peaks():
    grid = (8, 8)
    sim = torch.zeros(1, 64)
    sim[0, 9] = 1.0
    sim[0, 54] = 0.9
    order = build_order_rule(dict(type='semantic_multicenter', num_centers=2,
                                  filter_size=1))(sim, grid, torch.rand(1, 64))
    assert set(order.perm[0, :2].tolist()) == {9, 54}


def test_ties_keep_raster_order_and_constant_maps_work():
    grid = (4, 6)
    sim = torch.full((2, 24), 1 / 24)
    order = build_order_rule(dict(type='semantic', lam=0.0,
                                  filter_size=1))(
        sim, grid, torch.zeros(2, 24))
    assert order.perm[0, 0] == 0  # first argmax
    # zero padding: border cells lose mass, the first interior cell wins
    order = build_order_rule(dict(type='semantic', lam=0.0))(
        sim, grid, torch.zeros(2, 24))
    assert order.perm[0, 0] == 7
    sim_order = build_order_rule('similarity')(sim, grid, torch.zeros(2, 24))
    assert torch.equal(sim_order.perm, torch.arange(24).expand(2, 24))


def test_deterministic_under_seed_and_per_image():
    a = draw_noise([5, 6, 7], 20)
    b = draw_noise([7, 6], 20)
    assert torch.equal(a[2], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], a[1])


def test_raster_and_stochastic():
    grid = (3, 4)
    sim, noise = inputs(grid)
    raster = build_order_rule('raster')(None, grid, noise)
    assert torch.equal(raster.perm, torch.arange(12).expand(3, 12))
    stoch = build_order_rule('stochastic')(None, grid, noise)
    assert torch.equal(stoch.perm, noise.argsort(1))


@pytest.mark.parametrize('cfg,match', [
    ('nonsense', 'unknown order'),
    (dict(type='semantic', lam=-0.1), 'lam must be >= 0'),
    (dict(type='semantic', filter_size=2), 'filter_size'),
    (dict(type='semantic_multicenter', num_centers=0), 'num_centers'),
])
def test_bad_order_config(cfg, match):
    with pytest.raises(ValueError, match=match):
        build_order_rule(cfg)


def test_shape_errors():
    order = build_order_rule('semantic')
    with pytest.raises(ValueError, match='similarity map'):
        order(None, (2, 2), torch.rand(1, 4))
    with pytest.raises(ValueError, match='noise must be'):
        order(torch.rand(1, 4), (2, 3), torch.rand(1, 4))


def test_gather_puts_patches_in_the_order():
    """Permutation.gather (the one permutation of tokens, targets and queries):
    out[b, t] = x[b, perm[b, t]], for any trailing dims."""
    sim, noise = inputs((3, 5))
    order = build_order_rule('semantic')(sim, (3, 5), noise)
    x = torch.randn(3, 15, 2, 4)
    out = order.gather(x)
    assert out.shape == x.shape
    for b in range(3):
        for t in range(15):
            assert torch.equal(out[b, t], x[b, order.perm[b, t]])
    # rank undoes it: position rank[b, i] holds patch i
    assert torch.equal(torch.gather(out, 1, order.rank[..., None, None]
                                    .expand_as(x)), x)


def test_similarity_map_is_the_softmax_of_the_cls_cosine():
    from semaim_mm.models import similarity_map
    tokens = torch.randn(2, 1 + 6, 8)
    cos = torch.nn.functional.cosine_similarity(tokens[:, :1], tokens[:, 1:],
                                                dim=-1)
    torch.testing.assert_close(similarity_map(tokens), cos.softmax(-1))


def test_a_permutation_is_built_complete_and_frozen():
    import dataclasses
    grid = (3, 4)
    sim, noise = inputs(grid)
    permutation = build_order_rule('semantic')(sim, grid, noise)
    assert permutation.similarity is sim
    with pytest.raises(dataclasses.FrozenInstanceError):
        permutation.similarity = None
