"""Prediction targets. RGB here; teacher features in their own issue."""

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor

from ..kernels import gaussian_kernel
from .precision import full_fp32


def patchify(imgs: Tensor, patch_size: int) -> Tensor:
    """(B, C, H, W) -> (B, N, P*P*C), raster patch order, (p, q, c) inside a
    patch (MAE / SemAIM layout)."""
    B, C, H, W = imgs.shape
    p = patch_size
    if H % p or W % p:
        raise ValueError(f'image size {H}x{W} is not divisible by the patch '
                         f'size {p}')
    x = imgs.reshape(B, C, H // p, p, W // p, p)
    return torch.einsum('nchpwq->nhwpqc', x).reshape(B, -1, p * p * C)


@MODELS.register_module()
class RGBTargetGenerator(BaseModule):
    """Blurred, per-patch normalised pixels (the reference code's target).

    Args:
        patch_size: P (:class:`SemAIM` fills it from its backbone).
        in_channels: image channels (the target has P*P*C values per patch;
            filled from the backbone too).
        blur_kernel: Gaussian kernel size (reference 9); 0 disables the blur.
        blur_sigma: Gaussian sigma (reference 1).
        norm_pix: per-patch mean/std normalisation (eps 1e-6).
    """

    def __init__(self,
                 patch_size: int,
                 in_channels: int = 3,
                 blur_kernel: int = 9,
                 blur_sigma: float = 1.0,
                 norm_pix: bool = True) -> None:
        super().__init__()
        if blur_kernel and (blur_kernel % 2 == 0 or blur_sigma <= 0):
            raise ValueError('blur_kernel must be odd and blur_sigma > 0 '
                             f'(reference: 9, 1.0), got {blur_kernel}, '
                             f'{blur_sigma}')
        self.patch_size = patch_size
        self.in_channels = in_channels
        self.norm_pix = norm_pix
        self.target_dim = patch_size * patch_size * in_channels
        if blur_kernel:
            k = gaussian_kernel(blur_kernel, blur_sigma)
            self.register_buffer(
                'kernel', k.expand(in_channels, 1, -1, -1).clone(),
                persistent=False)
        else:
            self.kernel = None

    @torch.no_grad()
    def forward(self, imgs: Tensor) -> Tensor:
        """(B, C, H, W) normalised images -> (B, N, P*P*C) targets, fp32
        (fp64 for fp64 images), computed in :func:`full_fp32`: under
        autocast the blur would otherwise run in the autocast dtype, and
        cuDNN runs fp32 convolutions in TF32 by default."""
        x = imgs.float() if imgs.dtype in (torch.float16,
                                           torch.bfloat16) else imgs
        with full_fp32(x.device.type):
            if self.kernel is not None:
                x = F.conv2d(x, self.kernel.to(x.dtype),
                             padding=self.kernel.shape[-1] // 2,
                             groups=self.in_channels)
            target = patchify(x, self.patch_size)
            if self.norm_pix:
                mean = target.mean(dim=-1, keepdim=True)
                var = target.var(dim=-1, keepdim=True)
                target = (target - mean) / (var + 1.e-6)**.5
        return target
