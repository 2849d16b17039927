"""SemAIM's parallel decoder: L' cross-attention blocks fed by the encoder."""
from typing import List, Optional, Union

import numpy as np
import torch
from mmengine.model import BaseModule, ModuleList
from mmpretrain.registry import MODELS
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from .attention import CrossAttention, FastPath, PreNormBlock, ReferencePath

TAP_MODES = ('after', 'before')


def decoder_taps(encoder_depth: int, depth: int, mode: str = 'after') -> List[int]:
    """Which encoder hidden state feeds each decoder block.

    State ``t`` is the encoder after ``t`` blocks (0 = embeddings). Decoder
    block ``k`` reads encoder block ``e_k = floor((k+1) L / L') - 1``: its
    output (``'after'``, the reference code and the paper's Algorithm 1) or
    its input (``'before'``, the paper's Eq. 10). Evenly spaced for any
    ``1 <= L' <= L``, divisor or not; ``e_{L'-1}`` is always the last block.
    """
    if not 1 <= depth <= encoder_depth:
        raise ValueError(
            f'decoder depth must be between 1 and the encoder depth '
            f'{encoder_depth}, got {depth}: set neck.depth accordingly '
            f'(paper default: {encoder_depth})')
    if mode not in TAP_MODES:
        raise ValueError(f'tap must be one of {TAP_MODES}, got {mode!r}')
    ends = [(k + 1) * encoder_depth // depth for k in range(depth)]
    return ends if mode == 'after' else [e - 1 for e in ends]


class CrossAttentionBlock(PreNormBlock):
    """Decoder block: ``g = g + attn(ln1(g), ln1(h))``, then ``ln2`` + MLP.
    One norm for queries and keys, as in the reference code; no
    self-attention, so query rows never see each other."""

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 feedforward_channels: int,
                 drop_path_rate: float = 0.,
                 qkv_bias: bool = True,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(CrossAttention(embed_dims, num_heads, qkv_bias),
                         embed_dims, feedforward_channels,
                         drop_path_rate=drop_path_rate, norm_cfg=norm_cfg,
                         init_cfg=init_cfg)

    def forward(self,
                q: Tensor,
                kv: Tensor,
                causal: bool = False,
                attn_mask: Optional[Tensor] = None) -> Tensor:
        """q: (B, Nq, C) queries, kv: (B, Nk, C) encoder tokens -> (B, Nq, C)."""
        q = q + self.drop_path(
            self.attn(self.ln1(q), self.ln1(kv), causal, attn_mask))
        return self.ffn(self.ln2(q), identity=q)


@MODELS.register_module()
class SemAIMDecoder(BaseModule):
    """L' cross-attention blocks; block k reads encoder state ``taps[k]``.

    :class:`SemAIM` fills ``embed_dims`` (the encoder's width: the decoder
    reads the encoder's tokens and position embeddings as they are),
    ``encoder_depth`` and, unless given, ``num_heads`` and ``depth`` (the
    encoder's: the reference code's and the paper's setting).

    Args:
        embed_dims: width.
        num_heads: attention heads.
        depth: L', from 1 to ``encoder_depth``.
        encoder_depth: L.
        mlp_ratio: MLP hidden width / embed_dims.
        tap: ``'after'`` (reference code) or ``'before'`` (paper Eq. 10).
        drop_path_rate: stochastic depth, linearly increasing per block.
        with_cp: activation checkpointing (mmpretrain's / mmdet's name):
            recompute each block in the backward pass
            (``torch.utils.checkpoint``, non-reentrant): less memory, about
            one more decoder forward of cost.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 depth: int,
                 encoder_depth: int,
                 mlp_ratio: float = 4.,
                 tap: str = 'after',
                 qkv_bias: bool = True,
                 drop_path_rate: float = 0.,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 init_cfg: Optional[dict] = dict(
                     type='Xavier', layer='Linear', distribution='uniform'),
                 with_cp: bool = False,
                 ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.with_cp = with_cp
        self.taps = decoder_taps(encoder_depth, depth, tap)
        self.encoder_depth = encoder_depth
        dpr = np.linspace(0, drop_path_rate, depth)
        self.blocks = ModuleList([
            CrossAttentionBlock(embed_dims, num_heads,
                                int(embed_dims * mlp_ratio), float(dpr[i]),
                                qkv_bias, norm_cfg) for i in range(depth)
        ])

    def forward(self, queries: Tensor, states: List[Tensor],
                path: Union[FastPath, ReferencePath]) -> Tensor:
        """Decode.

        Args:
            queries: from :meth:`SemAIMViT.forward_autoregressive`: (B, N,
                C) on the fast path, (B, 1+N, C) for [CLS, patches] on the
                reference path.
            states: one (B, 1+N, C) encoder state per block (see ``taps``).
            path: the batch's attention; block k attends from the queries
                to ``path.keys(states[k])`` with ``path.dec_mask`` (Eq. 9)
                or causally.

        Returns:
            Decoded queries, same shape as ``queries``.
        """
        if len(states) != len(self.blocks):
            raise ValueError(f'expected {len(self.blocks)} encoder states, '
                             f'got {len(states)}')
        g = queries
        for block, h in zip(self.blocks, states):
            args = (g, path.keys(h), path.causal, path.dec_mask)
            if self.with_cp and torch.is_grad_enabled():
                g = checkpoint(block, *args, use_reentrant=False)
            else:
                g = block(*args)
        return g
