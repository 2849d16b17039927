"""ViTDet-style SemAIM backbone for mmdet (Mask R-CNN + FPN).

A plain ViT with the parameter names of :class:`semaim_mm.models.SemAIMViT`
(= mmpretrain ``VisionTransformer``), so a SemAIM pre-training checkpoint loads
directly, plus the ViTDet fine-tuning changes:

* window attention (window 14) in most blocks, global attention in a few
  (ViT-B: blocks 2, 5, 8, 11); the token grid is zero-padded to a multiple of
  the window and cropped back;
* decomposed relative position bias (``attn.rel_pos_h`` / ``attn.rel_pos_w``,
  new parameters, zero-initialised: missing from any pre-training checkpoint);
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

Checkpoint keys (documented in :data:`NEW_KEY_PATTERNS` /
:data:`DROPPED_KEYS`): a SemAIM backbone state dict (``semaim_to_backbone``
output, or the pre-training checkpoint with ``prefix='backbone.'``) loads with
missing keys only for the relative position tables and the pyramid layers;
``cls_token`` is dropped (unused), and ``ln1`` is dropped when
``final_norm=False``. A ``pos_embed`` of any square grid is resized to the
model's pre-training grid while loading.
"""
import math
import re
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import PatchEmbed
from mmdet.registry import MODELS
from mmengine.logging import MMLogger
from mmengine.model import BaseModule, ModuleList
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from semaim_mm.converters import load_backbone_state_dict, resize_pos_embed
from semaim_mm.models.attention import SelfAttention
from semaim_mm.models.vit import (SemAIMBlock, SemAIMViT, random_init_first,
                                  sincos_pos_embed)

# Parameters a SemAIM checkpoint does not have (regular expressions on the
# backbone's own names).
NEW_KEY_PATTERNS = (
    r'layers\.\d+\.attn\.rel_pos_[hw]$',
    r'pyramid\.',
)
# Checkpoint keys the backbone does not use and drops while loading.
DROPPED_KEYS = ('cls_token', )


def is_new_key(name: str) -> bool:
    """True for backbone parameters that no pre-training checkpoint has."""
    return any(re.search(p, name) for p in NEW_KEY_PATTERNS)


@MODELS.register_module(name='SemAIMLN2d')
class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a (B, C, H, W) map; registered as
    ``norm_cfg=dict(type='SemAIMLN2d')`` for mmdet's ConvModules (ViTDet
    uses LN in the FPN, RPN and RoI heads)."""

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], self.weight,
                         self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


# --- windows and relative positions -----------------------------------------
def window_partition(x: Tensor, window: int) -> Tuple[Tensor, Tuple[int, int]]:
    """(B, H, W, C) -> (B * nW, window*window, C), zero-padding H and W up to
    multiples of ``window``; returns the padded size too."""
    B, H, W, C = x.shape
    pad_h, pad_w = (-H) % window, (-W) % window
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    Hp, Wp = H + pad_h, W + pad_w
    x = x.view(B, Hp // window, window, Wp // window, window, C)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, C)
    return x, (Hp, Wp)


def window_unpartition(x: Tensor, window: int, padded: Tuple[int, int],
                       size: Tuple[int, int]) -> Tensor:
    """Inverse of :func:`window_partition`: (B * nW, window*window, C) ->
    (B, H, W, C), cropping the padding."""
    Hp, Wp = padded
    H, W = size
    B = x.shape[0] // (Hp * Wp // window // window)
    x = x.view(B, Hp // window, Wp // window, window, window, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(B, Hp, Wp, -1)
    return x[:, :H, :W].contiguous()


def relative_table(table: Tensor, q_len: int, k_len: int) -> Tensor:
    """Embeddings of the relative offsets between ``q_len`` query and
    ``k_len`` key positions along one axis: (q_len, k_len, head_dim).

    ``table`` holds ``2 * L - 1`` rows for offsets ``-(L-1)..L-1`` of some
    length ``L``; it is linearly resampled when the needed range differs. For
    different ``q_len`` / ``k_len`` the coordinates are rescaled to the longer
    axis (as in ViTDet / SAM).
    """
    needed = 2 * max(q_len, k_len) - 1
    if table.shape[0] != needed:
        table = F.interpolate(
            table.t()[None], size=needed, mode='linear',
            align_corners=False)[0].t()
    q = torch.arange(q_len, device=table.device)[:, None] * max(
        k_len / q_len, 1.0)
    k = torch.arange(k_len, device=table.device)[None, :] * max(
        q_len / k_len, 1.0)
    offset = (q - k) + (k_len - 1) * max(q_len / k_len, 1.0)
    return table[offset.long()]


def decomposed_rel_pos_bias(q: Tensor, rel_pos_h: Tensor, rel_pos_w: Tensor,
                            size: Tuple[int, int]) -> Tensor:
    """Additive attention bias of ViTDet's decomposed relative positions.

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
    Rh = relative_table(rel_pos_h, H, H).to(q.dtype)  # (H, H, d)
    Rw = relative_table(rel_pos_w, W, W).to(q.dtype)  # (W, W, d)
    r_q = q.reshape(B, nh, H, W, d)
    bias_h = torch.einsum('bnhwc,hkc->bnhwk', r_q, Rh)
    bias_w = torch.einsum('bnhwc,wkc->bnhwk', r_q, Rw)
    bias = bias_h[..., :, None] + bias_w[..., None, :]  # (B,nh,H,W,H,W)
    return bias.reshape(B, nh, N, N)


class RelPosAttention(SelfAttention):
    """Self-attention with ViTDet's decomposed relative position bias.

    The bias is added to the scores inside ``scaled_dot_product_attention``
    (an additive ``attn_mask``); ``qkv`` / ``proj`` are those of
    :class:`semaim_mm.models.attention.SelfAttention`, so pre-trained weights
    load unchanged.
    """

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


class ViTDetBlock(SemAIMBlock):
    """Pre-norm block with window (``window_size > 0``) or global attention
    and relative position bias; otherwise :class:`SemAIMBlock` (same
    parameter names)."""

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
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(embed_dims, num_heads, feedforward_channels,
                         drop_rate, attn_drop_rate, drop_path_rate, qkv_bias,
                         norm_cfg, init_cfg)
        self.window_size = window_size
        self.attn = RelPosAttention(embed_dims, num_heads, rel_pos_size,
                                    qkv_bias, attn_drop_rate, drop_rate)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, H, W, C) -> (B, H, W, C)."""
        B, H, W, C = x.shape
        y = self.ln1(x)
        if self.window_size > 0:
            y, padded = window_partition(y, self.window_size)
            y = self.attn(y, (self.window_size, self.window_size))
            y = window_unpartition(y, self.window_size, padded, (H, W))
        else:
            y = self.attn(y.reshape(B, H * W, C), (H, W)).view(B, H, W, C)
        x = x + self.drop_path(y)
        return self.ffn(self.ln2(x), identity=x)


PYRAMID_STRIDES = (4, 8, 16, 32)


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
            layers += [LayerNorm2d(chans[i]), nn.GELU()]
        layers.append(_deconv(chans[i], chans[i + 1]))
    return nn.Sequential(*layers), chans[-1]


@MODELS.register_module()
class SemAIMViTDet(BaseModule):
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
        with_cp: activation checkpointing of every block while training.
        frozen_stages: freeze patch embedding and the first N blocks (-1:
            nothing).
    """

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
        super().__init__(init_cfg=init_cfg)
        if isinstance(arch, str):
            if arch.lower() not in SemAIMViT.arch_zoo:
                raise ValueError(f'unknown arch {arch!r}; choose one of '
                                 f'{sorted(SemAIMViT.arch_zoo)} or a dict')
            arch = SemAIMViT.arch_zoo[arch.lower()]
        C = self.embed_dims = arch['embed_dims']
        L = self.num_layers = arch['num_layers']
        heads = arch['num_heads']
        size = (img_size, img_size) if isinstance(img_size, int) else tuple(
            img_size)
        self.patch_size = patch_size
        self.in_channels = in_channels
        self.pretrain_grid = (pretrain_img_size // patch_size, ) * 2
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
        self.with_cp = with_cp
        self.frozen_stages = frozen_stages

        self.patch_embed = PatchEmbed(
            in_channels=in_channels,
            embed_dims=C,
            conv_type='Conv2d',
            kernel_size=patch_size,
            stride=patch_size)
        # Pre-training layout (CLS slot first) so checkpoints load as is.
        self.pos_embed = nn.Parameter(
            sincos_pos_embed(self.pretrain_grid, C),
            requires_grad=learnable_pos_embed)
        self.drop_after_pos = nn.Dropout(p=drop_rate)
        input_grid = (size[0] // patch_size, size[1] // patch_size)
        dpr = np.linspace(0, drop_path_rate, L)
        self.layers = ModuleList()
        for i in range(L):
            is_global = i in self.global_attn_indexes
            win = 0 if is_global else window_size
            self.layers.append(
                ViTDetBlock(
                    C, heads, arch['feedforward_channels'],
                    window_size=win,
                    rel_pos_size=(input_grid if is_global else
                                  (window_size, window_size))
                    if use_rel_pos else None,
                    drop_rate=drop_rate,
                    attn_drop_rate=attn_drop_rate,
                    drop_path_rate=float(dpr[i]),
                    qkv_bias=qkv_bias,
                    norm_cfg=norm_cfg))
        self.final_norm = final_norm
        if final_norm:
            self.ln1 = build_norm_layer(norm_cfg, C)[1]

        levels = [
            _pyramid_level(C, patch_size, stride, pyramid == 'simple')
            for stride in PYRAMID_STRIDES
        ]
        self.pyramid = ModuleList(op for op, _ in levels)
        self.out_channels = tuple(c for _, c in levels)

    # --- weights -------------------------------------------------------------
    def init_weights(self) -> None:
        """Random initialisation of every parameter, then, with
        ``init_cfg=dict(type='Pretrained', checkpoint=PATH[, prefix=...])``,
        the encoder weights from the checkpoint (:meth:`load_pretrained`)."""
        with random_init_first(self) as pretrained:
            super().init_weights()
        for m in self.layers.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for m in self.pyramid.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out')
                nn.init.zeros_(m.bias)
        if pretrained:
            self.load_pretrained(pretrained['checkpoint'],
                                 pretrained.get('prefix'))

    def load_pretrained(self, path: str, prefix: Optional[str] = None
                        ) -> List[str]:
        """Load the encoder from any checkpoint that holds one (SemAIM
        pre-training or reference checkpoint, bare backbone, classifier, timm
        ViT; a detector with ``prefix='backbone.'``). Only the documented new
        keys (:data:`NEW_KEY_PATTERNS`) may be missing; returns them."""
        sd, kind = load_backbone_state_dict(path, prefix)
        missing, unexpected = self.load_state_dict(sd, strict=False)
        bad_missing = [k for k in missing if not is_new_key(k)]
        if bad_missing or unexpected:
            raise KeyError(
                f'{path} does not match the detection backbone: missing '
                f'{bad_missing[:8]}, unexpected {list(unexpected)[:8]} (an '
                'encoder of another size or patch size?)')
        MMLogger.get_current_instance().info(
            f'SemAIMViTDet: loaded {len(sd)} tensors from {path} ({kind}); '
            f'new (randomly initialised): {len(missing)} tensors')
        return list(missing)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        """Adapt a SemAIM / ViT checkpoint: drop ``cls_token`` (and ``ln1``
        without ``final_norm``), resize ``pos_embed`` to the pre-training grid
        and relative tables to this model's sizes."""
        for name in DROPPED_KEYS + (() if self.final_norm else
                                    ('ln1.weight', 'ln1.bias')):
            state_dict.pop(prefix + name, None)
        key = prefix + 'pos_embed'
        if key in state_dict and state_dict[key].shape != self.pos_embed.shape:
            src = state_dict[key]
            if src.shape[1] == self.pos_embed.shape[1] - 1:  # no CLS slot
                src = torch.cat([src.new_zeros(1, 1, src.shape[2]), src], 1)
            state_dict[key] = resize_pos_embed(src, self.pretrain_grid)
        for name, param in self.named_parameters():
            key = prefix + name
            if 'rel_pos_' in name and key in state_dict and \
                    state_dict[key].shape != param.shape:
                state_dict[key] = F.interpolate(
                    state_dict[key].t()[None], size=param.shape[0],
                    mode='linear', align_corners=False)[0].t()
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)

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
        interpolated (bicubic) from the pre-training grid; CLS slot dropped."""
        pos = self.pos_embed
        if tuple(grid) != self.pretrain_grid:
            pos = resize_pos_embed(pos, grid)
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
