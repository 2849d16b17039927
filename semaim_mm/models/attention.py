"""The one attention implementation of SemAIM, with a fast and a reference path.

Fast path (:class:`FastPath`): tokens are gathered into the autoregression
order (CLS first), so the paper's masks become plain causal masks and
``F.scaled_dot_product_attention(is_causal=True)`` runs (flash /
memory-efficient kernels on CUDA; nothing of size N x N is materialised there).

Reference path (:class:`ReferencePath`): the paper's explicit additive masks
(Eq. 7 and 9) over the unpermuted sequence, added to materialised attention
scores, exactly as the authors' code runs it. Kept for the equality tests and
the benchmark baseline.

:func:`build_attention_path` is the one place where the choice is made: the
encoder, the decoder and ``SemAIM.loss`` only call the returned object's
methods.
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.drop import build_dropout
from mmcv.cnn.bricks.transformer import FFN
from mmengine.model import BaseModule
from torch import Tensor, nn

from .orders import Permutation


def attend(q: Tensor,
           k: Tensor,
           v: Tensor,
           causal: bool = False,
           attn_mask: Optional[Tensor] = None,
           dropout_p: float = 0.0) -> Tensor:
    """Scaled dot-product attention.

    Args:
        q: (B, heads, Nq, d) queries.
        k, v: (B, heads, Nk, d) keys and values.
        causal: fast path; query ``i`` sees keys ``0..i`` (needs Nq == Nk).
        attn_mask: reference path; additive mask (B or 1, 1, Nq, Nk) with
            ``-inf`` where attention is forbidden. Scores are materialised.
        dropout_p: attention dropout (already zeroed by the caller in eval).

    Returns:
        (B, heads, Nq, d).
    """
    if attn_mask is None:
        return F.scaled_dot_product_attention(
            q, k, v, dropout_p=dropout_p, is_causal=causal)
    if causal:
        raise ValueError('give either causal=True or attn_mask, not both')
    scores = (q @ k.transpose(-2, -1)) * q.shape[-1]**-0.5
    attn = (scores + attn_mask).softmax(dim=-1)
    attn = F.dropout(attn, dropout_p, training=dropout_p > 0)
    return attn @ v


def autoregressive_masks(centerness: Tensor) -> Tuple[Tensor, Tensor]:
    """The paper's encoder and decoder masks over [CLS, patches] (Eq. 7, 9).

    Args:
        centerness: (B, N) per patch in raster order; smaller is earlier.

    Returns:
        ``(enc_mask, dec_mask)``, each (B, 1, N+1, N+1) additive float masks.
        Encoder: patch i sees patch j iff ``C_i >= C_j`` (itself included);
        decoder: iff ``C_i > C_j`` (strictly earlier). Every patch sees CLS;
        CLS sees only itself.
    """
    B, N = centerness.shape
    ci, cj = centerness.unsqueeze(-1), centerness.unsqueeze(1)
    enc = torch.zeros(B, N + 1, N + 1, dtype=torch.bool,
                      device=centerness.device)
    dec = enc.clone()
    enc[:, 0, 0] = dec[:, 0, 0] = True
    enc[:, 1:, 0] = dec[:, 1:, 0] = True
    enc[:, 1:, 1:] = ci >= cj
    dec[:, 1:, 1:] = ci > cj

    def additive(allowed: Tensor) -> Tensor:
        mask = torch.zeros(allowed.shape, device=allowed.device)
        return mask.masked_fill_(~allowed, float('-inf')).unsqueeze(1)

    return additive(enc), additive(dec)


class FastPath:
    """Attention under ``permutation`` on ordered tokens with causal masks.

    Encoder tokens run as [CLS, patches in order]; decoder query ``t`` sees
    the keys ``0..t`` of that sequence without its last token, i.e. CLS and
    the strictly earlier patches.
    """
    causal = True
    enc_mask: Optional[Tensor] = None
    dec_mask: Optional[Tensor] = None

    def __init__(self, permutation: Permutation) -> None:
        self.permutation = permutation

    def arrange(self, tokens: Tensor) -> Tensor:
        """(B, 1+N, C) [CLS, raster patches] -> the encoder's sequence."""
        return torch.cat(
            [tokens[:, :1], self.permutation.gather(tokens[:, 1:])], 1)

    def queries(self, pos: Tensor) -> Tensor:
        """(B, 1+N, C) position embeddings -> decoder queries (B, N, C)."""
        return self.permutation.gather(pos[:, 1:])

    def keys(self, state: Tensor) -> Tensor:
        """(B, 1+N, C) encoder state -> the decoder's keys (B, N, C)."""
        return state[:, :-1]

    def predictions(self, decoded: Tensor) -> Tensor:
        """Decoded queries -> (B, N, C), patches in the order's sequence."""
        return decoded

    def targets(self, target: Tensor) -> Tensor:
        """(B, N, D) raster targets -> the predictions' sequence."""
        return self.permutation.gather(target)


class ReferencePath:
    """Attention under ``permutation`` on the raster sequence with the
    paper's explicit masks (:func:`autoregressive_masks` from
    ``permutation.rank``);
    nothing is permuted, predictions and targets stay in raster order."""
    causal = False

    def __init__(self, permutation: Permutation) -> None:
        self.permutation = permutation
        self.enc_mask, self.dec_mask = autoregressive_masks(
            permutation.rank.float())

    def arrange(self, tokens: Tensor) -> Tensor:
        return tokens

    def queries(self, pos: Tensor) -> Tensor:
        return pos

    def keys(self, state: Tensor) -> Tensor:
        return state

    def predictions(self, decoded: Tensor) -> Tensor:
        """(B, 1+N, C) decoded [CLS, patches] -> (B, N, C), raster order."""
        return decoded[:, 1:]

    def targets(self, target: Tensor) -> Tensor:
        return target


ATTENTION_PATHS = {'fast': FastPath, 'reference': ReferencePath}


def check_path(path: str) -> str:
    if path not in ATTENTION_PATHS:
        raise ValueError(
            f'attention path must be one of {tuple(ATTENTION_PATHS)}, got '
            f"{path!r}: use 'fast' for training and 'reference' only for "
            'comparisons')
    return path


def build_attention_path(path: str, permutation: Permutation
                         ) -> Union[FastPath, ReferencePath]:
    """The attention of one batch under ``permutation``: ``'fast'`` or
    ``'reference'``."""
    return ATTENTION_PATHS[check_path(path)](permutation)


class MultiHeadBase(nn.Module):
    """Shared part of the attention modules: head split/merge and the output
    projection (``proj``), named as in mmpretrain's ``MultiheadAttention``;
    subclasses add their input projections in :meth:`build_inputs`."""

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.0,
                 proj_drop: float = 0.0) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims {embed_dims} is not divisible by '
                             f'num_heads {num_heads}')
        self.num_heads = num_heads
        self.attn_drop = attn_drop
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)
        self.build_inputs(embed_dims, qkv_bias)

    def build_inputs(self, embed_dims: int, qkv_bias: bool) -> None:
        """Create the input projections (``qkv``, or ``q``/``k``/``v``)."""
        raise NotImplementedError

    @property
    def dropout_p(self) -> float:
        return self.attn_drop if self.training else 0.0

    def split_heads(self, x: Tensor) -> Tensor:
        """(B, N, C) -> (B, heads, N, C / heads)."""
        B, N, C = x.shape
        return x.reshape(B, N, self.num_heads,
                         C // self.num_heads).transpose(1, 2)

    def merge_heads(self, out: Tensor) -> Tensor:
        """(B, heads, N, d) -> projected (B, N, heads * d)."""
        B, _, N, _ = out.shape
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(B, N, -1)))


class SelfAttention(MultiHeadBase):
    """Multi-head self-attention with a fused qkv projection.

    Parameter names (``qkv``, ``proj``) match mmpretrain's
    ``MultiheadAttention`` so encoder weights load into ``VisionTransformer``.
    """

    def build_inputs(self, embed_dims: int, qkv_bias: bool) -> None:
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)

    def qkv_heads(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """(B, N, C) -> q, k, v, each (B, heads, N, C / heads)."""
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads,
                                  C // self.num_heads).permute(2, 0, 3, 1, 4)
        return qkv[0], qkv[1], qkv[2]

    def forward(self,
                x: Tensor,
                causal: bool = False,
                attn_mask: Optional[Tensor] = None) -> Tensor:
        """x: (B, N, C) -> (B, N, C)."""
        q, k, v = self.qkv_heads(x)
        return self.merge_heads(
            attend(q, k, v, causal, attn_mask, self.dropout_p))


class CrossAttention(MultiHeadBase):
    """Multi-head cross-attention: queries from one stream, keys/values from
    another (separate q, k, v projections as in the reference decoder)."""

    def build_inputs(self, embed_dims: int, qkv_bias: bool) -> None:
        self.q = nn.Linear(embed_dims, embed_dims, bias=qkv_bias)
        self.k = nn.Linear(embed_dims, embed_dims, bias=qkv_bias)
        self.v = nn.Linear(embed_dims, embed_dims, bias=qkv_bias)

    def forward(self,
                q: Tensor,
                kv: Tensor,
                causal: bool = False,
                attn_mask: Optional[Tensor] = None) -> Tensor:
        """q: (B, Nq, C), kv: (B, Nk, C) -> (B, Nq, C)."""
        out = attend(
            self.split_heads(self.q(q)), self.split_heads(self.k(kv)),
            self.split_heads(self.v(kv)), causal, attn_mask, self.dropout_p)
        return self.merge_heads(out)


class PreNormBlock(BaseModule):
    """The parts of a pre-norm transformer block around its attention:
    ``ln1``, ``attn``, ``drop_path``, ``ln2``, ``ffn`` (GELU MLP), named as in
    mmpretrain's ``TransformerEncoderLayer``. Subclasses choose the attention
    and write :meth:`forward`."""

    def __init__(self,
                 attn: nn.Module,
                 embed_dims: int,
                 feedforward_channels: int,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.ln1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = attn
        self.drop_path = build_dropout(
            dict(type='DropPath', drop_prob=drop_path_rate))
        self.ln2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=feedforward_channels,
            ffn_drop=drop_rate,
            dropout_layer=dict(type='DropPath', drop_prob=drop_path_rate),
            act_cfg=dict(type='GELU'))
