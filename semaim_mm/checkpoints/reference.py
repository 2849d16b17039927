"""The authors' layout (skyoux/SemAIM ``AimViT``) <-> :class:`SemAIM`."""
import math
import re
import warnings
from collections import OrderedDict
from typing import Mapping, Optional, Tuple, Union

import torch
from torch import Tensor

from ..kernels import gaussian_kernel
from .keys import (TIMM_TO_MM_DECODER_BLOCK, StateDict, map_blocks,
                   mm_vit_to_timm, strip_prefix, sub_dict, timm_vit_to_mm)

# The blur of RGBTargetGenerator's defaults and of the authors' recipe
# (--gaussian_kernel_size 9 --gaussian_sigma 1).
DEFAULT_BLUR = (9, 1.0)
BLUR_KEY = 'gaussian_blur.weight'
_REFERENCE_KEYS = re.compile(r'(cls_token|pos_embed|patch_embed\.|blocks\.|'
                             r'query_blocks\.|norm\.|prediction_head\.)')


def reference_blur_kernel(size: int, sigma: float,
                          channels: int = 3) -> Tensor:
    """The authors' ``GaussianConv2d`` buffer, bit for bit: (C, 1, k, k),
    a normalised 2-D Gaussian evaluated as ``e ** (-d^2 / 2 sigma^2)``."""
    ax = torch.arange(size)
    pos = torch.stack(torch.meshgrid([ax, ax], indexing='ij'), dim=-1)
    mean = torch.tensor([(size - 1) // 2] * 2)
    std = torch.tensor([sigma, sigma])
    dist = ((pos - mean)**2 / std**2).sum(-1)
    kernel = 1 / (2 * math.pi * torch.prod(std, dim=-1)) * math.e**(-dist / 2)
    kernel = kernel / kernel.sum()
    return kernel.view(1, 1, size, size).repeat(channels, 1, 1, 1)


def check_reference_blur(buffer: Tensor, expected: Optional[Tensor]) -> None:
    """Raise unless the authors' ``gaussian_blur.weight`` equals the (C, 1,
    k, k) kernel the target model blurs with (``None``: no blur). The two are
    computed differently: equal means within float rounding."""
    if expected is not None and buffer.shape == expected.shape and \
            torch.allclose(buffer.float(), expected.float().cpu(), rtol=1e-4,
                           atol=1e-9):
        return
    k = buffer.shape[-1]
    c = k // 2
    ratio = float(buffer[0, 0, c, c + 1] / buffer[0, 0, c, c]) if k > 1 else 0
    sigma = (-1 / (2 * math.log(ratio)))**0.5 if 0 < ratio < 1 else float(
        'nan')
    want = 'no blur' if expected is None else \
        f'a {expected.shape[-1]}x{expected.shape[-1]} Gaussian'
    raise ValueError(
        f'{BLUR_KEY} is a {k}x{k} Gaussian of sigma ~{sigma:.3g}, the model '
        f'uses {want}: the checkpoint was trained with another target blur. '
        f'Set model.target_generator.blur_kernel={k} and model.target_'
        f'generator.blur_sigma={sigma:.3g} (converter: --blur-kernel {k} '
        f'--blur-sigma {sigma:.3g})')


def expected_blur(blur: Union[Tuple[int, float], Tensor, None],
                  channels: int = 3) -> Optional[Tensor]:
    """A (size, sigma) pair (size 0 = no blur) as the project's kernel
    (``RGBTargetGenerator``'s), or a kernel tensor as is."""
    if blur is None or torch.is_tensor(blur):
        return blur
    size, sigma = blur
    if not size:
        return None
    return gaussian_kernel(int(size), float(sigma)).expand(
        channels, 1, -1, -1)


def reference_to_semaim(sd: Mapping[str, Tensor],
                        blur: Union[Tuple[int, float], Tensor, None,
                                    bool] = DEFAULT_BLUR) -> StateDict:
    """The authors' pre-training state dict -> :class:`SemAIM` state dict.

    Args:
        sd: their state dict (``module.`` prefix allowed).
        blur: the target model's blur, ``(kernel size, sigma)`` or its
            (C, 1, k, k) kernel (``None``: no blur); a ``gaussian_blur.weight``
            that differs is an error (:func:`check_reference_blur`).
            ``False``: drop it unchecked (encoder-only use: the blur only
            shapes pre-training targets).
    """
    sd = strip_prefix(sd, 'module.')
    buffer = sd.pop(BLUR_KEY, None)
    if buffer is not None and blur is not False:
        check_reference_blur(buffer, expected_blur(blur, buffer.shape[0]))
    unknown = [k for k in sd if not _REFERENCE_KEYS.match(k)]
    if unknown:
        raise KeyError(f'not a SemAIM reference checkpoint: unexpected keys '
                       f'{unknown[:5]}')
    out = OrderedDict(
        ('backbone.' + k, v) for k, v in timm_vit_to_mm(sd).items())
    out.update(map_blocks(sd, 'query_blocks.', 'neck.blocks.',
                          TIMM_TO_MM_DECODER_BLOCK))
    for key, value in sd.items():
        if key.startswith('norm.'):
            out['head.norm.' + key[5:]] = value.clone()
        elif key.startswith('prediction_head.'):
            out['head.mlp.' + key[len('prediction_head.'):]] = value
    return out


def semaim_to_reference(sd: Mapping[str, Tensor], norm_from: str = 'head',
                        blur: Tuple[int, float] = DEFAULT_BLUR,
                        in_channels: int = 3) -> StateDict:
    """:class:`SemAIM` state dict -> the authors' ``AimViT`` state dict,
    blur buffer included (``blur=(0, 0)``: none, their ``nn.Identity``).

    The reference's one ``norm`` is taken from ``head.norm`` (``norm_from=
    'head'``) or ``backbone.ln1`` (``'encoder'``); when the two differ this
    warns with the largest difference."""
    if norm_from not in ('head', 'encoder'):
        raise ValueError(f"norm_from must be 'head' or 'encoder', got "
                         f'{norm_from!r}')
    backbone = sub_dict(sd, 'backbone.')
    out = OrderedDict((k, v) for k, v in mm_vit_to_timm(backbone).items()
                      if not k.startswith('norm.'))
    out.update(map_blocks(sub_dict(sd, 'neck.'), 'blocks.', 'query_blocks.',
                          TIMM_TO_MM_DECODER_BLOCK, reverse=True))
    norms = {'head': sub_dict(sd, 'head.norm.'),
             'encoder': sub_dict(backbone, 'ln1.')}
    _warn_if_norms_differ(norms['head'], norms['encoder'], norm_from)
    for key, value in norms[norm_from].items():
        out['norm.' + key] = value
    for key, value in sub_dict(sd, 'head.mlp.').items():
        out['prediction_head.' + key] = value
    if blur and blur[0]:
        out[BLUR_KEY] = reference_blur_kernel(int(blur[0]), blur[1],
                                              in_channels)
    return out


def _warn_if_norms_differ(head: StateDict, encoder: StateDict,
                          norm_from: str) -> None:
    if not head or not encoder or head.keys() != encoder.keys():
        return
    diff = max(float((head[k].float() - encoder[k].float()).abs().max())
               for k in head)
    if diff > 0:
        other = 'encoder' if norm_from == 'head' else 'head'
        warnings.warn(
            f'the reference layout has one final norm; backbone.ln1 and '
            f'head.norm differ (max |difference| {diff:.3g}): writing '
            f'{"head.norm" if norm_from == "head" else "backbone.ln1"} as '
            f'`norm`, the other is lost. Choose with --norm-from {other} '
            f'(norm_from={other!r}): head = the decoder output the reference '
            'trains its norm on, encoder = the features it fine-tunes from.',
            stacklevel=3)
