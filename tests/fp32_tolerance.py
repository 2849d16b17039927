"""Tolerances for comparing fp32 results with tensors stored by another
machine.

Hosts differ in their float kernels (AVX2 vs AVX-512 GEMM blocking, oneDNN
vs OpenBLAS): the same fp32 dot product of length ``K`` is summed in another
order. Each order is correct to ``gamma_K * sum|a_i b_i|`` (Higham, Accuracy
and Stability of Numerical Algorithms, 3.1; ``gamma_K ~ K u``, unit roundoff
``u = 2**-24``); rounding errors of a reordered sum behave like independent
terms, so two orders typically differ by ``sqrt(K) u`` of the summed
magnitudes. Through a chain of products with reductions ``K_1 .. K_D`` the
relative errors add up to ``u sum_i sqrt(K_i)`` (residual blocks pass them
on with gain about 1). Where an element cancels (``sum|ab| >> |sum ab|``)
its own relative error is unbounded, so a tensor is compared against its
scale (its largest magnitude): ``atol = u sum_i sqrt(K_i) max|ref|``,
``rtol = 0``. A sum of positive terms (a loss of squares) does not cancel:
there ``rtol = u sum_i sqrt(K_i)``.

A real bug (a wrong weight, a transposed table, another order) moves
outputs by far more than this bound (order 1e-2 of the scale and up).
"""
import math
from typing import Sequence

import torch

UNIT_ROUNDOFF = 2.0**-24


def fp32_relative_error(reductions: Sequence[int]) -> float:
    """Expected relative difference between two fp32 kernel orders after a
    chain of products with these reduction lengths."""
    return UNIT_ROUNDOFF * sum(math.sqrt(k) for k in reductions)


def assert_close_across_hosts(actual: torch.Tensor, stored: torch.Tensor,
                              reductions: Sequence[int]) -> None:
    """``actual`` equals ``stored`` (computed on another host) within the
    fp32 reordering bound, measured against ``stored``'s scale."""
    scale = stored.abs().max().item()
    torch.testing.assert_close(
        actual, stored, rtol=0,
        atol=fp32_relative_error(reductions) * scale)
