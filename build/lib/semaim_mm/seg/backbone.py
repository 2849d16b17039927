"""The SemAIM ViT as an mmseg backbone.

Design: this subclasses :class:`semaim_mm.models.SemAIMViT` (the very module
pre-training trains) instead of feeding mmseg's own ``MAE``/``BEiT``
backbone through a key converter. mmseg's ``MAE`` differs in ways a key
mapping cannot hide: BEiT-style attention (``q_bias``/``v_bias``, no key
bias), layer scale (``gamma_1/2``, ``init_values``) and its own position
embedding handling, so its features would only match after rewriting
weights. Reusing the blocks makes the fine-tuned features exactly the
pre-trained encoder's, and checkpoints load with their own key names.

Outputs: one (B, C, H/P, W/P) map per ``out_indices`` entry (block outputs,
0-based, default (3, 5, 7, 11) as MAE/BEiT). The fixed sin-cos position
embedding (made for ``img_size``) is interpolated (bicubic) to any input
grid: slide-inference crops, whole-image inference on other sizes,
non-square inputs. Inputs whose sides are not multiples of the patch size are
zero-padded at the bottom/right (``pad_to_patch``), as mmseg's ViT does.
"""
from typing import Sequence, Tuple, Union

import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from semaim_mm.models.vit import SemAIMViT


@MODELS.register_module()
class SemAIMViTSeg(SemAIMViT):
    """SemAIM ViT encoder returning multi-level feature maps for mmseg.

    Args:
        img_size, drop_path_rate: as :class:`~semaim_mm.models.SemAIMViT`,
            with segmentation defaults (512, 0.1); every other
            :class:`~semaim_mm.models.SemAIMViT` argument (``arch``,
            ``patch_size``, ``norm_cfg``, ``init_cfg``, ...) is passed on.
        out_indices: blocks whose outputs are returned (0-based; negative
            counts from the end).
        final_norm: apply the encoder's final LayerNorm to the last block's
            output (only matters if the last block is in ``out_indices``).
            Default False (MAE/BEiT segmentation).
        pad_to_patch: zero-pad inputs to a multiple of the patch size
            instead of raising.
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH[, prefix=...])``
            loads a SemAIM pre-training checkpoint, the authors' reference
            checkpoint, a ``tools/model_converters/semaim_to_backbone.py``
            output, a classifier/segmentor checkpoint (``prefix``, e.g.
            ``'backbone.'``) or a timm ViT, through the encoder's strict
            loader (:meth:`SemAIMViT.load_pretrained`); the position
            embedding is interpolated to ``img_size``'s grid by the inherited
            load hook. Any missing key, and any unexpected key other than the
            unused final norms (``ln1``, a GAP classifier's ``ln2``), is an
            error.
    """

    def __init__(self,
                 img_size: Union[int, Tuple[int, int]] = 512,
                 out_indices: Sequence[int] = (3, 5, 7, 11),
                 drop_path_rate: float = 0.1,
                 final_norm: bool = False,
                 pad_to_patch: bool = True,
                 **kwargs) -> None:
        super().__init__(img_size=img_size, out_indices=list(out_indices),
                         drop_path_rate=drop_path_rate, final_norm=final_norm,
                         out_type='featmap', **kwargs)
        self.pad_to_patch = pad_to_patch

    # --- forward -----------------------------------------------------------
    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """(B, C, H, W) -> tuple of (B, embed_dims, ceil(H/P), ceil(W/P))."""
        if self.pad_to_patch:
            p = self.patch_size
            pad_h, pad_w = -x.shape[-2] % p, -x.shape[-1] % p
            if pad_h or pad_w:
                x = F.pad(x, (0, pad_w, 0, pad_h))
        tokens, _, (h, w) = self.embed(x)
        B = x.shape[0]
        outs = []
        for i, layer in enumerate(self.layers):
            tokens = layer(tokens)
            if i == len(self.layers) - 1 and self.final_norm:
                tokens = self.ln1(tokens)
            if i in self.out_indices:
                outs.append(tokens[:, self.num_extra_tokens:].transpose(
                    1, 2).reshape(B, -1, h, w).contiguous())
        return tuple(outs)
