"""SemAIM's encoder: a plain ViT whose blocks accept the autoregressive
attention (causal on the fast path, explicit masks on the reference path).

Parameter names equal mmpretrain's ``VisionTransformer`` (``layers.i.ln1``,
``layers.i.attn.qkv``, ``layers.i.ffn.layers.0.0``, ``ln1``, ...), so a
pre-trained encoder loads into it for fine-tuning; see
:mod:`semaim_mm.checkpoints` for the documented key differences.
"""
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.model import BaseModule, ModuleList
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from mmpretrain.registry import MODELS
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..checkpoints import load_encoder_into
from .attention import FastPath, PreNormBlock, ReferencePath, SelfAttention


@contextmanager
def random_init_first(module: BaseModule) -> Iterator[Optional[dict]]:
    """Yield ``module``'s ``Pretrained`` init config (else None), with it
    removed from ``init_cfg`` inside the block, so that ``init_weights``
    there initialises every parameter randomly; the caller then loads the
    checkpoint itself and checks its keys."""
    cfg = module.init_cfg
    cfgs = list(cfg) if isinstance(cfg, (list, tuple)) else [cfg] if cfg \
        else []
    pretrained = [c for c in cfgs if c.get('type') == 'Pretrained']
    if pretrained:
        others = [c for c in cfgs if c.get('type') != 'Pretrained']
        module.init_cfg = others or None
    try:
        yield pretrained[-1] if pretrained else None
    finally:
        module.init_cfg = cfg


def sincos_pos_embed(grid: Tuple[int, int], embed_dims: int,
                     cls_token: bool = True,
                     temperature: float = 10000.) -> Tensor:
    """Fixed 2-D sin-cos position embedding, (1, [1+] H'*W', D).

    Tokens are in raster (row-major) order; the first half of the channels
    encodes the column, the second half the row (each half: sin, then cos,
    of ``pos * temperature**(-k / (D/4))``). This is MAE's
    ``get_2d_sincos_pos_embed`` (``util/pos_embed.py``), which the authors'
    code uses: their checkpoints hold exactly this table, computed in fp64
    and stored in fp32 as here. mmpretrain's
    ``build_2d_sincos_position_embedding`` lists its tokens column-major:
    reordered to raster it is this table, so on square grids it is this
    table with rows and columns swapped. Raster order on any grid is what
    ``resize_pos_embed`` (mmpretrain) assumes when it interpolates.
    """
    if embed_dims % 4:
        raise ValueError(f'embed_dims must be divisible by 4 for the 2-D '
                         f'sin-cos embedding, got {embed_dims}')
    h, w = grid
    rows = torch.arange(h, dtype=torch.float64).repeat_interleave(w)
    cols = torch.arange(w, dtype=torch.float64).repeat(h)
    quarter = embed_dims // 4
    omega = 1. / temperature**(
        torch.arange(quarter, dtype=torch.float64) / quarter)
    out_c, out_r = cols[:, None] * omega, rows[:, None] * omega
    pos = torch.cat([out_c.sin(), out_c.cos(), out_r.sin(), out_r.cos()], 1)
    if cls_token:
        pos = torch.cat([torch.zeros(1, embed_dims, dtype=pos.dtype), pos])
    return pos.float()[None]


class SemAIMBlock(PreNormBlock):
    """Pre-norm transformer block whose self-attention can be causal or
    masked. Same parameter names as mmpretrain's ``TransformerEncoderLayer``.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 feedforward_channels: int,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 qkv_bias: bool = True,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 init_cfg: Optional[dict] = None) -> None:
        attn = SelfAttention(embed_dims, num_heads, qkv_bias, attn_drop_rate,
                             drop_rate)
        super().__init__(attn, embed_dims, feedforward_channels, drop_rate,
                         drop_path_rate, norm_cfg, init_cfg)

    def forward(self,
                x: Tensor,
                causal: bool = False,
                attn_mask: Optional[Tensor] = None) -> Tensor:
        """x: (B, N, C) -> (B, N, C)."""
        x = x + self.drop_path(self.attn(self.ln1(x), causal, attn_mask))
        return self.ffn(self.ln2(x), identity=x)


@MODELS.register_module()
class SemAIMViT(VisionTransformer):
    """ViT encoder for SemAIM pre-training (and plain ViT use).

    Args:
        arch: ``'tiny'``, ``'deit-small'`` (DeiT-S, 384 wide: mmpretrain's
            name; its ``'small'`` is 768 wide), ``'base'``, ``'large'``,
            ``'huge'`` (the widths of mmpretrain's names), or a dict with
            ``embed_dims``, ``num_layers``, ``num_heads``,
            ``feedforward_channels``.
        img_size: input size (int or (H, W)); must be divisible by
            ``patch_size``.
        patch_size: patch size P.
        in_channels: image channels (3 for RGB).
        out_type: what :meth:`forward` returns for plain (non-autoregressive)
            use: ``'raw'`` (B, 1+N, C), ``'cls_token'``, ``'featmap'``,
            ``'avg_featmap'`` as in mmpretrain.
        drop_path_rate: stochastic depth, linearly increasing per block.
        norm_cfg: norm layers (LayerNorm eps 1e-6, as MAE / SemAIM).
        with_cp: activation checkpointing (mmpretrain's / mmdet's name):
            recompute each block in the backward pass
            (``torch.utils.checkpoint``, non-reentrant) instead of storing
            its activations: less memory, about one more forward of cost.
            Only where autograd records (no effect on the similarity pass).
        learnable_pos_embed: train the position embedding (fine-tuning, as
            mmpretrain's ``VisionTransformer``); pre-training keeps the fixed
            sin-cos table (False).
        frozen_stages: freeze the patch embedding, position embedding, CLS
            token and the first N blocks (all of them: also the final norms;
            linear probing), as mmpretrain's ``VisionTransformer``.
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH[, prefix=...])``
            loads the encoder of any checkpoint that holds one
            (:meth:`load_pretrained`), strictly.
    """
    # Keys a checkpoint may lack: the GAP norm of out_type='avg_featmap'.
    checkpoint_new_keys: Tuple[str, ...] = (r'ln2\.', )
    # Keys it may have unused: ln1 without final_norm, a GAP classifier's ln2.
    checkpoint_unused_keys: Tuple[str, ...] = (r'ln[12]\.', )
    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'], dict(
            embed_dims=192, num_layers=12, num_heads=3,
            feedforward_channels=768)),
        **dict.fromkeys(['deit-s', 'deit-small'], dict(
            embed_dims=384, num_layers=12, num_heads=6,
            feedforward_channels=1536)),
        **dict.fromkeys(['b', 'base'], dict(
            embed_dims=768, num_layers=12, num_heads=12,
            feedforward_channels=3072)),
        **dict.fromkeys(['l', 'large'], dict(
            embed_dims=1024, num_layers=24, num_heads=16,
            feedforward_channels=4096)),
        **dict.fromkeys(['h', 'huge'], dict(
            embed_dims=1280, num_layers=32, num_heads=16,
            feedforward_channels=5120)),
    }

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: Union[int, Tuple[int, int]] = 224,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = -1,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 qkv_bias: bool = True,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 final_norm: bool = True,
                 out_type: str = 'raw',
                 interpolate_mode: str = 'bicubic',
                 with_cp: bool = False,
                 learnable_pos_embed: bool = False,
                 frozen_stages: int = -1,
                 init_cfg: Optional[dict] = None) -> None:
        size = (img_size, img_size) if isinstance(img_size, int) else tuple(
            img_size)
        if any(s % patch_size for s in size):
            raise ValueError(
                f'img_size {size} is not divisible by patch_size '
                f'{patch_size}: choose an image size that is a multiple of '
                'the patch size (e.g. '
                f'{[s // patch_size * patch_size for s in size]})')
        if isinstance(arch, str) and arch.lower() not in self.arch_zoo:
            raise ValueError(f'unknown arch {arch!r}; choose one of '
                             f'{sorted(self.arch_zoo)} or give a dict')
        super().__init__(
            arch=arch,
            img_size=size,
            patch_size=patch_size,
            in_channels=in_channels,
            out_indices=out_indices,
            drop_rate=drop_rate,
            drop_path_rate=drop_path_rate,
            qkv_bias=qkv_bias,
            norm_cfg=norm_cfg,
            final_norm=final_norm,
            out_type=out_type,
            with_cls_token=True,
            frozen_stages=frozen_stages,
            interpolate_mode=interpolate_mode,
            init_cfg=init_cfg)
        self.in_channels = in_channels
        self.patch_size = patch_size
        self.with_cp = with_cp
        dpr = np.linspace(0, drop_path_rate, self.num_layers)
        self.layers = ModuleList([
            SemAIMBlock(
                self.embed_dims,
                self.arch_settings['num_heads'],
                self.arch_settings['feedforward_channels'],
                drop_rate=drop_rate,
                attn_drop_rate=attn_drop_rate,
                drop_path_rate=float(dpr[i]),
                qkv_bias=qkv_bias,
                norm_cfg=norm_cfg) for i in range(self.num_layers)
        ])
        # Fixed, not learned, in pre-training (MAE / SemAIM).
        self.pos_embed.requires_grad = learnable_pos_embed
        self.pos_embed.data.copy_(
            sincos_pos_embed(self.patch_resolution, self.embed_dims))
        if frozen_stages > 0:  # the blocks above replaced the frozen ones
            self._freeze_stages()

    def init_weights(self) -> None:
        """Random initialisation, then, with a ``Pretrained`` ``init_cfg``,
        the encoder from its checkpoint (:meth:`load_pretrained`)."""
        with random_init_first(self) as pretrained:
            super().init_weights()
            self.init_random_weights()
        if pretrained:
            self.load_pretrained(pretrained.get('checkpoint'),
                                 pretrained.get('prefix'))

    def load_pretrained(self, checkpoint, prefix: Optional[str] = None
                        ) -> Tuple[List[str], List[str]]:
        """Load the encoder of any checkpoint that holds one (a path or a
        loaded dict; :func:`semaim_mm.checkpoints.load_encoder_state_dict`),
        strictly: only :attr:`checkpoint_new_keys` may be missing, only
        :attr:`checkpoint_unused_keys` unexpected. Returns (missing,
        unexpected)."""
        return load_encoder_into(self, checkpoint, prefix,
                                 self.checkpoint_new_keys,
                                 self.checkpoint_unused_keys)

    def init_random_weights(self) -> None:
        """MAE's initialisation: sin-cos positions, Xavier projections."""
        self.pos_embed.data.copy_(
            sincos_pos_embed(self.patch_resolution, self.embed_dims))
        w = self.patch_embed.projection.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.normal_(self.cls_token, std=.02)
        for m in self.layers.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def check_input(self, x: Tensor) -> Tuple[int, int]:
        """Validate (B, C, H, W) input; returns the patch grid (H', W')."""
        if x.dim() != 4:
            raise ValueError(f'expected images (B, C, H, W), got shape '
                             f'{tuple(x.shape)}')
        B, C, H, W = x.shape
        if C != self.in_channels:
            raise ValueError(
                f'expected {self.in_channels}-channel images, got {C}: '
                'convert grayscale/RGBA images to RGB in the pipeline '
                "(LoadImageFromFile(color_type='color') or "
                "dict(type='ToRGB')), or set in_channels")
        if H % self.patch_size or W % self.patch_size:
            raise ValueError(
                f'image size {H}x{W} is not divisible by the patch size '
                f'{self.patch_size}: resize/crop to a multiple of it')
        return H // self.patch_size, W // self.patch_size

    def embed(self, x: Tensor) -> Tuple[Tensor, Tensor, Tuple[int, int]]:
        """Patch-embed and add position embeddings.

        Returns:
            tokens (B, 1+N, C) = [CLS + pos_0, patches + pos], in raster order;
            pos (1, 1+N, C) the position embedding used; the grid (H', W').
        """
        grid = self.check_input(x)
        patches, grid = self.patch_embed(x)
        pos = resize_pos_embed(self.pos_embed, self.patch_resolution, grid,
                               self.interpolate_mode, self.num_extra_tokens)
        tokens = torch.cat(
            [self.cls_token.expand(x.shape[0], -1, -1), patches], 1) + pos
        return self.pre_norm(self.drop_after_pos(tokens)), pos, tuple(grid)

    def forward_tokens(self, x: Tensor) -> Tensor:
        """Plain full-attention pass; (B, 1+N, C) after the final norm."""
        tokens, _, _ = self.embed(x)
        for layer in self.layers:
            tokens = self._run_block(layer, tokens)
        return self.ln1(tokens) if self.final_norm else tokens

    def _run_block(self, layer: nn.Module, tokens: Tensor,
                   causal: bool = False,
                   attn_mask: Optional[Tensor] = None) -> Tensor:
        if self.with_cp and torch.is_grad_enabled():
            return checkpoint(layer, tokens, causal, attn_mask,
                              use_reentrant=False)
        return layer(tokens, causal=causal, attn_mask=attn_mask)

    def forward_autoregressive(
            self, x: Tensor, taps: Sequence[int],
            path: Union[FastPath, ReferencePath]
    ) -> Tuple[List[Tensor], Tensor]:
        """Encoder pass under an autoregression order.

        Args:
            x: (B, C, H, W) images.
            taps: which hidden states to return; ``t`` is the state after
                ``t`` blocks (0 = embeddings), sorted ascending.
            path: the batch's attention
                (:func:`~semaim_mm.models.attention.build_attention_path`): it
                arranges the tokens and gives every block its causal flag
                or mask.

        Returns:
            ``states``: one (B, 1+N, C) tensor per tap, in the path's
            sequence; ``queries``: the decoder queries built from the
            position embeddings (``path.queries``).
        """
        tokens, pos, _ = self.embed(x)
        tokens = path.arrange(tokens)
        queries = path.queries(pos.expand(x.shape[0], -1, -1))
        wanted = sorted(set(taps))
        states = [tokens] if 0 in wanted else []
        for i, layer in enumerate(self.layers[:wanted[-1]]):
            tokens = self._run_block(layer, tokens, path.causal,
                                     path.enc_mask)
            if i + 1 in wanted:
                states.append(tokens)
        return [states[wanted.index(t)] for t in taps], queries
