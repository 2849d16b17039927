"""glibc malloc settings for training on the CPU.

PyTorch has no caching allocator on the CPU: every tensor comes from
``malloc``. With glibc's defaults a freed activation of a few MiB goes back to
the kernel (``munmap``, or a heap trim), so the next step's tensor of the same
size page-faults its memory in again, one zeroed 4 KiB page at a time. In a
SemAIM step this hits whatever runs while the heap is full of saved
activations: on ViT-S/16 at 224 px (batch 8, 2 threads) the decoder ran at
0.76x the encoder's FLOP rate and the reference path's materialised N x N
scores cost it a quarter of its step (docs/benchmarks.md). Keeping freed
memory in the heap, as a caching allocator would, removes most faults; the
cost is that the process holds its peak footprint between steps instead of
returning it.

Results do not change: only where memory comes from does. Where CUDA is in
use the settings are left alone: a GPU run's tensors come from PyTorch's
caching allocator, and the host heap (data-loader workers inherit its
settings when they fork) is better left trimming.
"""
import ctypes
import ctypes.util
import os
import sys

import torch

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# glibc caps the mmap threshold at 4 MiB * sizeof(long) (32 MiB on 64-bit);
# larger requests are mmapped whatever is set.
MMAP_THRESHOLD_MAX = 32 << 20
TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int

_applied = None


def user_chose_allocator() -> bool:
    """Whether the environment already sets glibc malloc tunables or
    preloads another allocator (jemalloc, tcmalloc): then leave it be."""
    if any(k.startswith('MALLOC_') and k.endswith('_') for k in os.environ):
        return True
    return 'GLIBC_TUNABLES' in os.environ or 'malloc' in os.environ.get(
        'LD_PRELOAD', '')


def keep_freed_memory() -> bool:
    """Make glibc keep freed blocks of up to 32 MiB in the heap for reuse
    (fixed mmap threshold, trimming only above 2 GiB of free heap top).

    Process-wide and idempotent; a no-op returning False off glibc Linux,
    when :func:`user_chose_allocator`, or when CUDA is available (the run
    then trains on the GPU). Returns whether the settings are on.
    """
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if sys.platform != 'linux' or user_chose_allocator() or \
            torch.cuda.is_available():
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    _applied = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)
                    and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _applied
