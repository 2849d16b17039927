"""Mask R-CNN on a GPU needs mmcv's CUDA ops (nms, roi_align): refuse a
CPU-only mmcv at start instead of at the first RPN nms."""
import torch

from semaim_mm.preflight import PreflightError

FIX = ('rebuild it with tools/install_mmcv.sh on this machine (it builds the '
       'CUDA ops when nvcc is on PATH or in CUDA_HOME)')


def mmcv_cuda_version() -> str:
    """The CUDA version mmcv's ops were compiled with; ``'not available'``
    for a CPU-only build, ``''`` when mmcv has no compiled ops at all."""
    try:
        from mmcv.ops import get_compiling_cuda_version
    except ImportError:
        return ''
    return get_compiling_cuda_version()


def check_mmcv_cuda_ops() -> None:
    """On a machine where torch sees a GPU, raise :class:`PreflightError`
    naming the fix when mmcv's ops were built without CUDA."""
    if not torch.cuda.is_available():
        return
    version = mmcv_cuda_version()
    if not version:
        raise PreflightError('this mmcv has no compiled ops (mmcv-lite?), '
                             f'which Mask R-CNN needs; {FIX}')
    if version == 'not available':
        raise PreflightError('mmcv was built without CUDA ops and this '
                             'machine has a GPU: Mask R-CNN\'s nms / '
                             f'roi_align would fail on cuda; {FIX}')
