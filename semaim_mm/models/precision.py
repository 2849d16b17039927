"""IEEE fp32 for the parts of the method that need it.

Under autocast, matmuls and convolutions run in bf16 / fp16; and on Ampere
or later GPUs, fp32 ones may run in TF32 (a 10-bit mantissa): cuDNN
convolutions do by default, CUDA matmuls when the tools allow it for speed
(:func:`semaim_mm.engine.runner.build_runner`). The similarity map (cosines
near 1 decide the order's centre) and the RGB targets are computed in
:func:`full_fp32`.
"""
from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def full_fp32(device_type: str) -> Iterator[None]:
    """Autocast off and IEEE fp32 CUDA matmuls / cuDNN convolutions inside;
    the previous settings come back on exit. The flags are set through
    torch's ``fp32_precision`` API; inside, its legacy ``cudnn.allow_tf32``
    getter raises (mixed flags), and the wrapped code does not read it."""
    flags = (torch.backends.cuda.matmul, torch.backends.cudnn.conv)
    old = [f.fp32_precision for f in flags]
    for f in flags:
        f.fp32_precision = 'ieee'
    try:
        with torch.autocast(device_type, enabled=False):
            yield
    finally:
        for f, value in zip(flags, old):
            f.fp32_precision = value
