"""Small tensor helpers shared across packages; imports nothing of the
project, so ``models`` and ``checkpoints`` can both use it."""
import torch
from torch import Tensor


def gaussian_kernel(size: int, sigma: float) -> Tensor:
    """(size, size) normalised Gaussian."""
    ax = torch.arange(size, dtype=torch.float32) - (size - 1) // 2
    g = torch.exp(-ax**2 / (2 * sigma**2))
    k = g[:, None] * g[None, :]
    return k / k.sum()
