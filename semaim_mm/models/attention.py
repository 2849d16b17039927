"""The one attention implementation of SemAIM, with a fast and a reference path.

Fast path: tokens are already gathered into the autoregression order (CLS
first), so the paper's masks become plain causal masks and
``F.scaled_dot_product_attention(is_causal=True)`` runs (flash /
memory-efficient kernels on CUDA; nothing of size N x N is materialised there).

Reference path: the paper's explicit additive masks (Eq. 7 and 9) over the
unpermuted sequence, added to materialised attention scores, exactly as the
authors' code runs it. Kept for the equality tests and the benchmark baseline.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PATHS = ('fast', 'reference')


def check_path(path: str) -> str:
    if path not in PATHS:
        raise ValueError(
            f'attention path must be one of {PATHS}, got {path!r}: use '
            "'fast' for training and 'reference' only for comparisons")
    return path


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


class MultiHeadBase(nn.Module):
    """Shared part of the attention modules: head split/merge and the output
    projection (``proj``), named as in mmpretrain's ``MultiheadAttention``."""

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
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

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.0,
                 proj_drop: float = 0.0) -> None:
        super().__init__(embed_dims, num_heads, attn_drop, proj_drop)
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

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.0,
                 proj_drop: float = 0.0) -> None:
        super().__init__(embed_dims, num_heads, attn_drop, proj_drop)
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
