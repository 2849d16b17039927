"""ViTDet-style SemAIM backbone for mmdet (Mask R-CNN + FPN).

:class:`SemAIMViTDet` is a :class:`semaim_mm.models.SemAIMViT` (the
pre-trained encoder, mmpretrain ``VisionTransformer`` names), so a SemAIM
checkpoint loads through the encoder's own strict loader, plus the ViTDet
fine-tuning changes:

* window attention (window 14) in most blocks, global attention in a few
  (ViT-B: blocks 2, 5, 8, 11); the token grid is zero-padded to a multiple of
  the window and cropped back (mmpretrain's ``window_partition`` /
  ``window_unpartition``);
* decomposed relative position bias (``attn.rel_pos_h`` / ``attn.rel_pos_w``,
  new parameters, zero-initialised: missing from any pre-training checkpoint;
  tables looked up with mmpretrain's ``get_rel_pos``);
* the absolute position embedding stays at the pre-training grid (14x14 for
  224 / 16) and is interpolated (bicubic) to the input grid at every forward
  (64x64 for 1024 inputs); the CLS token is not used;
* drop path and optional activation checkpointing (``with_cp``);
* a feature pyramid of strides 4/8/16/32 built inside the backbone, so that
  mmdet's stock ``FPN`` neck follows:

  - ``pyramid='multilevel'`` (SemAIM paper appendix, MAE/BEiT style): the
    outputs of 4 equal subsets of the blocks (after blocks 3, 6, 9, 12 for
    ViT-B, ``out_indices=(2, 5, 8, 11)``) become strides 4 / 8 / 16 / 32; for
    patch 16 by 2 deconvs / 1 deconv / identity / max-pool, for other
    power-of-two patch sizes by as many deconvs (or poolings) as the ratio
    needs; all levels keep ``C`` channels;
  - ``pyramid='simple'`` (ViTDet simple feature pyramid): the last block's
    output becomes strides 4 / 8 / 16 / 32 the same way, each deconv halving
    the channels (patch 16: C/4, C/2, C, C).

Checkpoints: only the relative tables and the pyramid may be missing
(:data:`NEW_KEY_PATTERNS`); ``cls_token`` (and ``ln1`` without
``final_norm``) are dropped; ``pos_embed`` of any square grid is resized to
the pre-training grid by ``VisionTransformer``'s load hook.
"""
import math
import re
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmdet.registry import MODELS
from mmengine.model import ModuleList
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.backbones.vit_sam import (get_rel_pos,
                                                 window_partition,
                                                 window_unpartition)
from mmpretrain.models.utils import LayerNorm2d, resize_pos_embed
from torch import Tensor, nn

from semaim_mm.models.attention import PreNormBlock, SelfAttention
from semaim_mm.models.vit import SemAIMViT, sincos_pos_embed

# Parameters an encoder checkpoint does not have (regular expressions on the
# backbone's own names).
NEW_KEY_PATTERNS = (
    r'layers\.\d+\.attn\.rel_pos_[hw]$',
    r'pyramid\.',
)
# Checkpoint keys the backbone does not use and drops while loading.
DROPPED_KEYS = ('cls_token', )
PYRAMID_STRIDES = (4, 8, 16, 32)

# ViTDet's LayerNorm over channels in mmdet's FPN / heads:
# norm_cfg=dict(type='SemAIMLN2d') (mmpretrain's class, in mmdet's registry).
MODELS.register_module(name='SemAIMLN2d', module=LayerNorm2d)


def is_new_key(name: str) -> bool:
    """True for backbone parameters that no pre-training checkpoint has."""
    return any(re.search(p, name) for p in NEW_KEY_PATTERNS)


def decomposed_rel_pos_bias(q: Tensor, rel_pos_h: Tensor, rel_pos_w: Tensor,
                            size: Tuple[int, int]) -> Tensor:
    """Additive attention bias of ViTDet's decomposed relative positions.

    The tables are read with mmpretrain's ``get_rel_pos`` (resampled to the
    grid when their length differs). The bias is summed here rather than by
    its ``add_decomposed_rel_pos``, which adds to a materialised score
    matrix: SDPA never forms one, and passing zeros would cost another
    (B * heads, N, N) tensor per global block.

    Args:
        q: (B, heads, H*W, d) queries (unscaled).
        rel_pos_h, rel_pos_w: tables (2L-1, d) for the two axes.
        size: the (H, W) of the attended grid (queries = keys).

    Returns:
        (B, heads, H*W, H*W): ``bias[(i,j),(k,l)] = q_ij . Rh[i-k] +
        q_ij . Rw[j-l]``.
    """
    H, W = size
    B, nh, N, d = q.shape
    Rh = get_rel_pos(H, H, rel_pos_h).to(q.dtype)  # (H, H, d)
    Rw = get_rel_pos(W, W, rel_pos_w).to(q.dtype)  # (W, W, d)
    r_q = q.reshape(B, nh, H, W, d)
    bias_h = torch.einsum('bnhwc,hkc->bnhwk', r_q, Rh)
    bias_w = torch.einsum('bnhwc,wkc->bnhwk', r_q, Rw)
    bias = bias_h[..., :, None] + bias_w[..., None, :]  # (B,nh,H,W,H,W)
    return bias.reshape(B, nh, N, N)


class RelPosAttention(SelfAttention):
    """Self-attention plus ViTDet's decomposed relative position bias (an
    additive SDPA mask); ``qkv`` / ``proj`` load pre-trained weights."""

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 rel_pos_size: Optional[Tuple[int, int]],
                 qkv_bias: bool = True,
                 attn_drop: float = 0.0,
                 proj_drop: float = 0.0) -> None:
        super().__init__(embed_dims, num_heads, qkv_bias, attn_drop,
                         proj_drop)
        head_dim = embed_dims // num_heads
        self.use_rel_pos = rel_pos_size is not None
        if self.use_rel_pos:
            # Zero init: pre-trained attention is unchanged at the start.
            self.rel_pos_h = nn.Parameter(
                torch.zeros(2 * rel_pos_size[0] - 1, head_dim))
            self.rel_pos_w = nn.Parameter(
                torch.zeros(2 * rel_pos_size[1] - 1, head_dim))

    def forward(self, x: Tensor, size: Tuple[int, int]) -> Tensor:
        """x: (B, H*W, C) tokens of an (H, W) grid -> (B, H*W, C)."""
        q, k, v = self.qkv_heads(x)
        bias = None
        if self.use_rel_pos:
            bias = decomposed_rel_pos_bias(q, self.rel_pos_h, self.rel_pos_w,
                                           size)
        return self.merge_heads(F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, dropout_p=self.dropout_p))


class ViTDetBlock(PreNormBlock):
    """Pre-norm block with window (``window_size > 0``) or global attention
    and relative position bias; parameter names as :class:`SemAIMBlock`."""

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 feedforward_channels: int,
                 window_size: int = 0,
                 rel_pos_size: Optional[Tuple[int, int]] = None,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 qkv_bias: bool = True,
                 norm_cfg: dict = dict(type='LN', eps=1e-6)) -> None:
        attn = RelPosAttention(embed_dims, num_heads, rel_pos_size, qkv_bias,
                               attn_drop_rate, drop_rate)
        super().__init__(attn, embed_dims, feedforward_channels, drop_rate,
                         drop_path_rate, norm_cfg)
        self.window_size = window_size

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, H, W, C) -> (B, H, W, C)."""
        B, H, W, C = x.shape
        y = self.ln1(x)
        if self.window_size > 0:
            ws = self.window_size
            y, padded = window_partition(y, ws)  # (B * nW, ws, ws, C)
            y = self.attn(y.reshape(-1, ws * ws, C), (ws, ws))
            y = window_unpartition(y.view(-1, ws, ws, C), ws, padded, (H, W))
        else:
            y = self.attn(y.reshape(B, H * W, C), (H, W)).view(B, H, W, C)
        x = x + self.drop_path(y)
        return self.ffn(self.ln2(x), identity=x)


def _deconv(cin: int, cout: int) -> nn.Module:
    return nn.ConvTranspose2d(cin, cout, kernel_size=2, stride=2)


def _pyramid_level(C: int, patch_size: int, stride: int,
                   halve: bool) -> Tuple[nn.Module, int]:
    """Token grid (stride ``patch_size``) -> a map of ``stride``: deconvs x2
    (LayerNorm2d + GELU between them; channels halved per deconv when
    ``halve``, as ViTDet's simple pyramid), identity or max-pooling. Returns
    the module and its output channels."""
    ups = round(math.log2(patch_size / stride))
    if 2.0**ups != patch_size / stride:
        raise ValueError(f'patch size {patch_size} and pyramid stride '
                         f'{stride} are not a power-of-two multiple of each '
                         'other')
    if ups < 0:
        return nn.MaxPool2d(kernel_size=2**-ups, stride=2**-ups), C
    chans = [C // 2**i if halve else C for i in range(ups + 1)]
    if ups == 0:
        return nn.Identity(), C
    if ups == 1:
        return _deconv(chans[0], chans[1]), chans[1]
    layers: List[nn.Module] = []
    for i in range(ups):
        if i:
            layers += [LayerNorm2d(chans[i], eps=1e-6), nn.GELU()]
        layers.append(_deconv(chans[i], chans[i + 1]))
    return nn.Sequential(*layers), chans[-1]


@MODELS.register_module()
class SemAIMViTDet(SemAIMViT):
    """SemAIM ViT for detection (ViTDet-style); see the module docstring.

    Args:
        arch: as :class:`SemAIMViT` (``'base'``, ``'large'``, ... or a dict).
        img_size: the training input size (int or (H, W)); sets the size of
            the global blocks' relative position tables (input / patch).
            Other input sizes work (tables are resampled).
        pretrain_img_size: the pre-training input size; the stored absolute
            position embedding has this grid (224 / 16 = 14x14).
        patch_size: patch size.
        window_size: window of the window-attention blocks (14).
        global_attn_indexes: 0-based blocks with global attention; ``None``
            picks the last block of each quarter (ViT-B: 2, 5, 8, 11).
        use_rel_pos: add decomposed relative position bias.
        pyramid: ``'multilevel'`` (paper appendix) or ``'simple'`` (ViTDet).
        out_indices: blocks whose outputs feed the multilevel pyramid
            (default: the last of each quarter); ignored by ``'simple'``.
        final_norm: apply the checkpoint's final LayerNorm (``ln1``) to the
            last block's output.
        drop_path_rate: stochastic depth (linearly increasing), 0.1.
        learnable_pos_embed: fine-tune the absolute position embedding.
        with_cp: activation checkpointing of every block while training.
        frozen_stages: freeze patch embedding and the first N blocks (-1:
            nothing).
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH[, prefix=...])``:
            the encoder of any checkpoint (:meth:`SemAIMViT.load_pretrained`).
    """
    checkpoint_new_keys = NEW_KEY_PATTERNS
    checkpoint_unused_keys = (r'ln2\.', )  # a GAP classifier's norm

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: Union[int, Tuple[int, int]] = 1024,
                 pretrain_img_size: int = 224,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 window_size: int = 14,
                 global_attn_indexes: Optional[Sequence[int]] = None,
                 use_rel_pos: bool = True,
                 pyramid: str = 'multilevel',
                 out_indices: Optional[Sequence[int]] = None,
                 final_norm: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.1,
                 qkv_bias: bool = True,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 learnable_pos_embed: bool = True,
                 with_cp: bool = False,
                 frozen_stages: int = -1,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            arch=arch, img_size=pretrain_img_size, patch_size=patch_size,
            in_channels=in_channels, drop_rate=drop_rate,
            attn_drop_rate=attn_drop_rate, drop_path_rate=drop_path_rate,
            qkv_bias=qkv_bias, norm_cfg=norm_cfg, final_norm=final_norm,
            learnable_pos_embed=learnable_pos_embed, init_cfg=init_cfg)
        # No CLS token; the position embedding keeps its slot, as stored.
        self.cls_token = None
        self._check_layout(global_attn_indexes, out_indices, pyramid)
        self.with_cp = with_cp
        self.frozen_stages = frozen_stages
        size = (img_size, img_size) if isinstance(img_size, int) else tuple(
            img_size)
        input_grid = (size[0] // patch_size, size[1] // patch_size)
        dpr = np.linspace(0, drop_path_rate, self.num_layers)
        self.layers = ModuleList()
        for i in range(self.num_layers):
            is_global = i in self.global_attn_indexes
            win = 0 if is_global else window_size
            self.layers.append(
                ViTDetBlock(
                    self.embed_dims, self.arch_settings['num_heads'],
                    self.arch_settings['feedforward_channels'],
                    window_size=win,
                    rel_pos_size=(input_grid if is_global else
                                  (window_size, window_size))
                    if use_rel_pos else None,
                    drop_rate=drop_rate,
                    attn_drop_rate=attn_drop_rate,
                    drop_path_rate=float(dpr[i]),
                    qkv_bias=qkv_bias,
                    norm_cfg=norm_cfg))
        levels = [
            _pyramid_level(self.embed_dims, patch_size, stride,
                           pyramid == 'simple') for stride in PYRAMID_STRIDES
        ]
        self.pyramid = ModuleList(op for op, _ in levels)
        self.out_channels = tuple(c for _, c in levels)
        self._register_load_state_dict_pre_hook(self._adapt_checkpoint)

    def _check_layout(self, global_attn_indexes: Optional[Sequence[int]],
                      out_indices: Optional[Sequence[int]],
                      pyramid: str) -> None:
        L = self.num_layers
        if L % 4 and (global_attn_indexes is None or out_indices is None):
            raise ValueError(f'{L} blocks do not split into 4 equal subsets: '
                             'give global_attn_indexes and out_indices')
        quarter_ends = tuple(range(L // 4 - 1, L, L // 4))
        self.global_attn_indexes = tuple(
            quarter_ends if global_attn_indexes is None else
            global_attn_indexes)
        if pyramid not in ('multilevel', 'simple'):
            raise ValueError(f"pyramid must be 'multilevel' or 'simple', "
                             f'got {pyramid!r}')
        self.pyramid_type = pyramid
        self.out_indices = tuple(
            quarter_ends if out_indices is None else out_indices)
        if pyramid == 'multilevel' and len(self.out_indices) != 4:
            raise ValueError('the multilevel pyramid needs 4 out_indices')

    # --- weights -------------------------------------------------------------
    def init_random_weights(self) -> None:
        """ViTDet's initialisation: sin-cos positions, truncated-normal
        linear layers, He-initialised deconvs; the encoder checkpoint (if
        any) is loaded over it by :meth:`SemAIMViT.init_weights`."""
        self.pos_embed.data.copy_(
            sincos_pos_embed(self.patch_resolution, self.embed_dims))
        for m in self.layers.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for m in self.pyramid.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out')
                nn.init.zeros_(m.bias)

    def _adapt_checkpoint(self, state_dict, prefix, *args) -> None:
        """Load pre-hook: drop what ViTDet does not use (``cls_token``;
        ``ln1`` without ``final_norm``) and resample relative tables of
        another length (linearly, as ``get_rel_pos`` does)."""
        for name in DROPPED_KEYS + (() if self.final_norm else
                                    ('ln1.weight', 'ln1.bias')):
            state_dict.pop(prefix + name, None)
        for name, param in self.named_parameters():
            key = prefix + name
            if 'rel_pos_' in name and key in state_dict and \
                    state_dict[key].shape != param.shape:
                state_dict[key] = F.interpolate(
                    state_dict[key].t()[None], size=param.shape[0],
                    mode='linear', align_corners=False)[0].t()

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        self.patch_embed.eval()
        for p in list(self.patch_embed.parameters()) + [self.pos_embed]:
            p.requires_grad = False
        for layer in self.layers[:self.frozen_stages]:
            layer.eval()
            for p in layer.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        return self

    # --- forward -------------------------------------------------------------
    def abs_pos_embed(self, grid: Tuple[int, int]) -> Tensor:
        """The absolute position embedding for a patch grid, (1, H, W, C),
        interpolated from the pre-training grid; CLS slot dropped."""
        pos = resize_pos_embed(self.pos_embed, self.patch_resolution, grid,
                               self.interpolate_mode, self.num_extra_tokens)
        return pos[:, 1:].reshape(1, grid[0], grid[1], -1)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """(B, 3, H, W) -> 4 maps of strides 4, 8, 16, 32 (H, W multiples of
        the patch size; mmdet's ``pad_size_divisor=32`` ensures it)."""
        if x.shape[-2] % self.patch_size or x.shape[-1] % self.patch_size:
            raise ValueError(
                f'input {tuple(x.shape[-2:])} is not divisible by the patch '
                f'size {self.patch_size}: set pad_size_divisor in the data '
                'preprocessor to a multiple of it')
        x, grid = self.patch_embed(x)
        x = x.view(x.shape[0], grid[0], grid[1], -1)
        x = self.drop_after_pos(x + self.abs_pos_embed(grid).to(x.dtype))
        taps: List[Tensor] = []
        for i, layer in enumerate(self.layers):
            if self.with_cp and self.training and x.requires_grad:
                x = cp.checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
            if i == self.num_layers - 1 and self.final_norm:
                x = self.ln1(x)
            if self.pyramid_type == 'multilevel' and i in self.out_indices:
                taps.append(x.permute(0, 3, 1, 2).contiguous())
        if self.pyramid_type == 'simple':
            taps = [x.permute(0, 3, 1, 2).contiguous()] * 4
        return tuple(op(t) for op, t in zip(self.pyramid, taps))
