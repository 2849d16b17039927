"""Autoregression orders: every order of the paper (and one beyond it), one
interface.

An order rule (:class:`OrderRule`, registered by its config name:
``model.order='semantic'``) maps ``(similarity, grid, noise)`` to one batch's
:class:`Permutation`:

* ``similarity``: (B, N) similarity map S over the patches in raster order
  (:func:`similarity_map`; ``None`` for orders that do not use it);
* ``grid``: ``(H', W')`` with ``H' * W' == N`` (any grid, not only 14x14);
* ``noise``: (B, N) uniform [0, 1) numbers, one row per image (see
  :func:`draw_noise`), so an order is a pure function of its inputs.

The centerness ``C`` is the paper's quantity (smaller = predicted earlier);
``perm = argsort(C)`` (stable, so ties go in raster order) and ``rank`` is its
inverse. The reference attention path builds Eq. 7 / 9 from ``rank``, which
equals building them from ``C`` whenever ``C`` has no ties and otherwise keeps
the fast and reference paths identical. :meth:`Permutation.gather` is the one
place that permutes tokens into the order.
"""
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.registry import Registry
from torch import Tensor

from .precision import full_fp32

ORDERS = Registry('semaim order', locations=['semaim_mm.models.orders'])


@dataclass(frozen=True, eq=False)
class Permutation:
    """One batch's autoregression order, built complete by an
    :class:`OrderRule`; its fields cannot be rebound (tensors compare
    element-wise, so there is no ``==``).

    Attributes:
        perm: (B, N) long; ``perm[b, t]`` is the raster index of the patch
            predicted t-th.
        rank: (B, N) long; inverse of ``perm`` (position of each patch).
        centerness: (B, N) float per patch in raster order; smaller = earlier.
        similarity: (B, N) the similarity map S it was built from, if any.
    """
    perm: Tensor
    rank: Tensor
    centerness: Tensor
    similarity: Optional[Tensor] = None

    @classmethod
    def from_centerness(cls, centerness: Tensor,
                        similarity: Optional[Tensor] = None
                        ) -> 'Permutation':
        """The permutation sorting ``centerness`` ascending (stable)."""
        perm = torch.argsort(centerness, dim=1, stable=True)
        rank = torch.empty_like(perm)
        rank.scatter_(1, perm, torch.arange(
            perm.shape[1], device=perm.device).expand_as(perm))
        return cls(perm=perm, rank=rank, centerness=centerness,
                   similarity=similarity)

    def gather(self, x: Tensor) -> Tensor:
        """Patches in raster order -> in this order: (B, N, ...) ->
        (B, N, ...), ``out[b, t] = x[b, perm[b, t]]``."""
        idx = self.perm.reshape(*self.perm.shape, *([1] * (x.dim() - 2)))
        return torch.gather(x, 1, idx.expand(-1, -1, *x.shape[2:]))


def similarity_map(tokens: Tensor) -> Tensor:
    """The similarity map S (B, N) of the orders, from a ViT's output tokens:
    ``S_i = softmax_i(cos(z_cls, z_i))`` over the patches (paper Eq. 2).
    Student and teachers both call this.

    Args:
        tokens: (B, 1+N, D), CLS first, in any dtype. The cosine and the
            softmax always run in IEEE fp32 (:func:`full_fp32`: no
            autocast, no TF32): in bf16, cosines near 1 fall on steps of
            about 0.004 and the ties at the argmax would go to the first
            patch in raster order.
    """
    with full_fp32(tokens.device.type):
        tokens = tokens.float()
        cos = torch.einsum('bd,bnd->bn', F.normalize(tokens[:, 0], dim=-1),
                           F.normalize(tokens[:, 1:], dim=-1))
        return cos.softmax(dim=-1)


def grid_coords(grid: Tuple[int, int], device=None) -> Tuple[Tensor, Tensor]:
    """(N,) row and column of each patch in raster order."""
    h, w = grid
    idx = torch.arange(h * w, device=device)
    return (idx // w).float(), (idx % w).float()


def draw_noise(seeds: Sequence[int], num_patches: int,
               device: Union[str, torch.device, None] = None) -> Tensor:
    """(B, N) uniform noise, row ``b`` drawn from its own generator seeded by
    ``seeds[b]``: an image's order never depends on batch size, rank or world
    size, and needs no RNG state in checkpoints."""
    rows = [
        torch.rand(num_patches, generator=torch.Generator().manual_seed(
            int(s) % (2**63)))
        for s in seeds
    ]
    noise = torch.stack(rows)
    device = torch.device(device) if device is not None else noise.device
    if device.type == 'cuda':
        # from pinned memory the copy is asynchronous: the host goes on
        # queueing the step instead of waiting for the copy
        return noise.pin_memory().to(device, non_blocking=True)
    return noise.to(device)


class OrderRule(metaclass=ABCMeta):
    """The rule that makes a batch's :class:`Permutation`; subclasses
    implement :meth:`centerness`."""
    needs_similarity = False

    def __call__(self, similarity: Optional[Tensor], grid: Tuple[int, int],
                 noise: Tensor) -> Permutation:
        h, w = grid
        if noise.dim() != 2 or noise.shape[1] != h * w:
            raise ValueError(f'noise must be (B, {h * w}) for grid {grid}, '
                             f'got {tuple(noise.shape)}')
        if self.needs_similarity:
            if similarity is None:
                raise ValueError(
                    f'{type(self).__name__} needs a similarity map')
            if similarity.shape != noise.shape:
                raise ValueError(
                    f'similarity must be (B, {h * w}) for grid {grid}, got '
                    f'{tuple(similarity.shape)}')
        return Permutation.from_centerness(
            self.centerness(similarity, grid, noise), similarity)

    @abstractmethod
    def centerness(self, similarity: Optional[Tensor], grid: Tuple[int, int],
                   noise: Tensor) -> Tensor:
        """(B, N) centerness per patch in raster order; smaller = earlier."""

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in vars(self).items())
        return f'{type(self).__name__}({args})'


@ORDERS.register_module(name='raster')
class RasterOrder(OrderRule):
    """Row-major order (iGPT)."""

    def centerness(self, similarity, grid, noise):
        B, N = noise.shape
        return torch.arange(
            N, dtype=torch.float32, device=noise.device).expand(B, N).clone()


@ORDERS.register_module(name='stochastic')
class StochasticOrder(OrderRule):
    """A uniformly random permutation per image (SAIM)."""

    def centerness(self, similarity, grid, noise):
        return noise.float().clone()


@ORDERS.register_module(name='similarity')
class SimilarityOrder(OrderRule):
    """Patches sorted by S, most similar to the global token first (the
    paper's worst order; ``C = 1 - S`` as in the reference code)."""
    needs_similarity = True

    def centerness(self, similarity, grid, noise):
        return 1.0 - similarity.float()


def mean_filter(similarity: Tensor, grid: Tuple[int, int],
                size: int) -> Tensor:
    """(B, N) -> (B, N) ``size`` x ``size`` box filter over the grid, the
    paper's: each cell's neighbourhood sum, missing cells counted as 0,
    over ``size**2``. ``size == 1`` is the identity."""
    if size == 1:
        return similarity.float()
    B = similarity.shape[0]
    s = similarity.float().reshape(B, 1, *grid)
    s = F.avg_pool2d(s, size, stride=1, padding=size // 2,
                     count_include_pad=True)
    return s.reshape(B, -1)


def _check_semantic_args(lam: float, filter_size: int) -> None:
    if lam < 0:
        raise ValueError(f'lam must be >= 0 (paper: 0.01), got {lam}')
    if filter_size < 1 or filter_size % 2 == 0:
        raise ValueError('filter_size must be a positive odd number '
                         f'(paper: 3, reference code: 1), got {filter_size}')


@ORDERS.register_module(name='semantic')
class SemanticOrder(OrderRule):
    """SemAIM's semantic-aware order (paper Eq. 3-6).

    Centre = argmax of the ``filter_size`` mean-filtered S;
    ``C = distance to centre + lam * U(0, 1)``.

    Args:
        lam: noise weight lambda (paper 0.01).
        filter_size: zero-padded mean filter on S (paper 3; 1 disables
            it), see :func:`mean_filter`.
    """
    needs_similarity = True

    def __init__(self, lam: float = 0.01, filter_size: int = 3) -> None:
        _check_semantic_args(lam, filter_size)
        self.lam = lam
        self.filter_size = filter_size

    def centers(self, similarity: Tensor, grid: Tuple[int, int]) -> Tensor:
        """(B, 1) raster index of the centre (first argmax on ties)."""
        return mean_filter(similarity, grid,
                           self.filter_size).argmax(dim=1, keepdim=True)

    def centerness(self, similarity, grid, noise):
        centers = self.centers(similarity, grid)  # (B, K)
        rows, cols = grid_coords(grid, noise.device)
        crow = (centers // grid[1]).float().unsqueeze(-1)  # (B, K, 1)
        ccol = (centers % grid[1]).float().unsqueeze(-1)
        dist = ((rows - crow)**2 + (cols - ccol)**2).sqrt()  # (B, K, N)
        return dist.min(dim=1).values + self.lam * noise.float()


@ORDERS.register_module(name='semantic_official')
class OfficialSemanticOrder(SemanticOrder):
    """The reference code's variant: no mean filter, noise weight 1e-3."""

    def __init__(self, lam: float = 1e-3, filter_size: int = 1) -> None:
        super().__init__(lam=lam, filter_size=filter_size)


@ORDERS.register_module(name='semantic_multicenter')
class MultiCenterSemanticOrder(SemanticOrder):
    """Beyond the paper: ``num_centers`` centres at the highest peaks of the
    filtered S (local maxima in a 3x3 neighbourhood, then the highest other
    patches if there are too few peaks); a patch's distance is to its nearest
    centre. ``num_centers=1`` equals :class:`SemanticOrder`."""

    def __init__(self,
                 num_centers: int = 2,
                 lam: float = 0.01,
                 filter_size: int = 3) -> None:
        super().__init__(lam=lam, filter_size=filter_size)
        if num_centers < 1:
            raise ValueError(f'num_centers must be >= 1, got {num_centers}')
        self.num_centers = num_centers

    def centers(self, similarity: Tensor, grid: Tuple[int, int]) -> Tensor:
        s = mean_filter(similarity, grid, self.filter_size)
        B = s.shape[0]
        local_max = F.max_pool2d(
            s.reshape(B, 1, *grid), 3, stride=1, padding=1).reshape(B, -1)
        is_peak = s >= local_max
        # Lexicographic (peak first, then S descending, then raster index)
        # via two stable sorts, so k=1 picks exactly the first argmax.
        by_value = torch.argsort(-s, dim=1, stable=True)
        peak_first = torch.argsort(
            (~torch.gather(is_peak, 1, by_value)).int(), dim=1, stable=True)
        ranked = torch.gather(by_value, 1, peak_first)
        return ranked[:, :min(self.num_centers, s.shape[1])]


def build_order_rule(cfg: Union[str, dict, OrderRule]) -> OrderRule:
    """The order rule of ``'semantic'`` or ``dict(type='semantic', ...)``."""
    if isinstance(cfg, OrderRule):
        return cfg
    if isinstance(cfg, str):
        cfg = dict(type=cfg)
    cfg = dict(cfg)
    name = cfg.get('type')
    if name not in ORDERS.module_dict:
        raise ValueError(f'unknown order {name!r}; choose one of '
                         f'{sorted(ORDERS.module_dict)}')
    # Looked up directly: ORDERS.build would try the runner's default scope
    # (mmpretrain), which this registry does not belong to, and warn.
    return ORDERS.get(name)(**{k: v for k, v in cfg.items() if k != 'type'})
