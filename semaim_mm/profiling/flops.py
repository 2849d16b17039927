"""Analytic FLOPs of one training step, per image (2 FLOPs per multiply-add),
for SemAIM (:func:`semaim_step_flops`), mmpretrain's MAE
(:func:`mae_step_flops`) and a ViT classifier being fine-tuned
(:func:`classifier_step_flops`) by the same rules; :func:`step_flops` picks
the rule for a built model.

Counted: patch embedding, the qkv / proj / MLP matmuls, attention ``QK^T``
and ``AV``, the decoder's cross-attention, the head, and SemAIM's target
blur. Backward = 2x forward for the trained parts; SemAIM's similarity pass
and targets are forward-only. Attention counts the (query, key) pairs each
path actually computes: the reference path multiplies full
``(1+N) x (1+N)`` score matrices; the fast path's causal kernels compute
only the lower triangle, ``T (T+1) / 2`` pairs. LayerNorm, softmax, GELU and
the optimizer are not counted (they are not matmul work), so the utilisation
is a model-FLOPs utilisation (MFU). ``tests/benchmark/test_flops.py`` checks
both counts against ``torch.utils.flop_counter``.
"""
from typing import Dict, Optional, Sequence

from torch import nn

def linear_flops(tokens: int, d_in: int, d_out: int) -> int:
    """One (tokens x d_in) @ (d_in x d_out) matmul."""
    return 2 * tokens * d_in * d_out


def causal_pairs(n: int) -> int:
    """(query, key) pairs of an n x n causal (lower-triangular) mask."""
    return n * (n + 1) // 2


def attention_flops(pairs: int, dim: int) -> int:
    """``QK^T`` and ``AV`` over ``pairs`` (query, key) pairs, all heads
    together (``dim`` = heads * head_dim)."""
    return 2 * 2 * pairs * dim


def encoder_block_flops(tokens: int, dim: int, hidden: int,
                        pairs: Optional[int] = None) -> int:
    """Pre-norm ViT block on ``tokens`` tokens: qkv, proj, fc1, fc2 and
    attention over ``pairs`` pairs (default: full, tokens**2)."""
    pairs = tokens * tokens if pairs is None else pairs
    return (linear_flops(tokens, dim, 3 * dim) + linear_flops(tokens, dim, dim)
            + linear_flops(tokens, dim, hidden)
            + linear_flops(tokens, hidden, dim)
            + attention_flops(pairs, dim))


def decoder_block_flops(queries: int, keys: int, dim: int, hidden: int,
                        pairs: Optional[int] = None) -> int:
    """Cross-attention block: q (queries), k and v (keys), proj, MLP on the
    queries, attention over ``pairs`` (default queries * keys)."""
    pairs = queries * keys if pairs is None else pairs
    return (linear_flops(queries, dim, dim) + 2 * linear_flops(keys, dim, dim)
            + linear_flops(queries, dim, dim)
            + linear_flops(queries, dim, hidden)
            + linear_flops(queries, hidden, dim)
            + attention_flops(pairs, dim))


def semaim_step_flops(num_patches: int,
                      patch_dim: int,
                      dim: int,
                      hidden: int,
                      depth: int,
                      dec_dim: int,
                      dec_hidden: int,
                      dec_depth: int,
                      enc_blocks_run: int,
                      head_hidden: int,
                      target_dim: int,
                      path: str = 'fast',
                      similarity_pass: bool = True,
                      blur_flops: int = 0) -> Dict[str, int]:
    """FLOPs of one SemAIM training step for ONE image.

    Args:
        num_patches: N.
        patch_dim: P*P*C (patch-embedding input).
        dim, hidden, depth: encoder width, MLP width, blocks.
        dec_dim, dec_hidden, dec_depth: decoder width, MLP width, blocks.
        enc_blocks_run: encoder blocks the autoregressive pass runs (the
            deepest decoder tap).
        head_hidden, target_dim: head MLP widths.
        path: ``'fast'`` (causal pairs) or ``'reference'`` (full masks;
            the decoder also runs the discarded CLS query).
        similarity_pass: whether the order needs the similarity pass.
        blur_flops: forward FLOPs of the target generator.

    Returns:
        dict with ``similarity``, ``targets``, ``encoder``, ``decoder``,
        ``head`` (forward FLOPs), ``backward`` (2x encoder+decoder+head) and
        ``total``.
    """
    n, t = num_patches, num_patches + 1
    embed = linear_flops(n, patch_dim, dim)
    sim = (embed + depth * encoder_block_flops(t, dim, hidden)
           if similarity_pass else 0)
    if path == 'fast':
        enc = embed + enc_blocks_run * encoder_block_flops(
            t, dim, hidden, causal_pairs(t))
        # N queries, keys = [CLS, patches 1..N-1] (N tokens), causal
        dec = dec_depth * decoder_block_flops(n, n, dec_dim, dec_hidden,
                                              causal_pairs(n))
        head_tokens = n
    elif path == 'reference':
        enc = embed + enc_blocks_run * encoder_block_flops(t, dim, hidden)
        dec = dec_depth * decoder_block_flops(t, t, dec_dim, dec_hidden)
        head_tokens = n  # the CLS query is dropped before the head
    else:
        raise ValueError(f'unknown path {path!r}')
    head = (linear_flops(head_tokens, dec_dim, head_hidden)
            + linear_flops(head_tokens, head_hidden, target_dim))
    out = dict(similarity=sim, targets=blur_flops, encoder=enc, decoder=dec,
               head=head, backward=2 * (enc + dec + head))
    out['total'] = sum(out.values())
    return out


def model_step_flops(model: nn.Module, img_hw: Sequence[int],
                     path: Optional[str] = None) -> Dict[str, int]:
    """:func:`semaim_step_flops` for one image with the dimensions read
    from a built :class:`SemAIM`."""
    bb, neck, head = model.backbone, model.neck, model.head
    p, c = bb.patch_size, bb.in_channels
    n = (img_hw[0] // p) * (img_hw[1] // p)
    blk = neck.blocks[0]
    rule = model.order_rule
    blur = 0
    kernel = getattr(model.target_generator, 'kernel', None)
    if kernel is not None:
        blur = 2 * kernel.shape[-1]**2 * c * img_hw[0] * img_hw[1]
    return semaim_step_flops(
        num_patches=n,
        patch_dim=p * p * c,
        dim=bb.embed_dims,
        hidden=bb.arch_settings['feedforward_channels'],
        depth=bb.num_layers,
        dec_dim=blk.attn.q.in_features,
        dec_hidden=blk.ffn.layers[0][0].out_features,
        dec_depth=len(neck.blocks),
        enc_blocks_run=max(neck.taps),
        head_hidden=head.mlp.fc1.out_features,
        target_dim=head.mlp.fc2.out_features,
        path=path or model.attention_path,
        similarity_pass=rule.needs_similarity
        and model.similarity_source != 'teacher',
        blur_flops=blur)


def mae_step_flops(num_patches: int, patch_dim: int, dim: int, hidden: int,
                   depth: int, dec_dim: int, dec_hidden: int, dec_depth: int,
                   mask_ratio: float = 0.75) -> Dict[str, int]:
    """FLOPs of one mmpretrain MAE training step for ONE image, counted with
    :func:`semaim_step_flops`' rules: the patch embedding runs on all N
    patches, the encoder on the ``N * (1 - mask_ratio)`` kept ones + CLS,
    ``decoder_embed``, the decoder blocks and ``decoder_pred`` on N + 1
    tokens; the loss has no matmul. Returns ``encoder``, ``decoder``
    (forward), ``backward`` (2x both) and ``total``."""
    n = num_patches
    kept = int(n * (1 - mask_ratio)) + 1
    enc = (linear_flops(n, patch_dim, dim)
           + depth * encoder_block_flops(kept, dim, hidden))
    dec = (linear_flops(kept, dim, dec_dim)
           + dec_depth * encoder_block_flops(n + 1, dec_dim, dec_hidden)
           + linear_flops(n + 1, dec_dim, patch_dim))
    out = dict(encoder=enc, decoder=dec, backward=2 * (enc + dec))
    out['total'] = sum(out.values())
    return out


def mae_model_step_flops(model: nn.Module,
                         img_hw: Sequence[int]) -> Dict[str, int]:
    """:func:`mae_step_flops` with the dimensions read from a built
    mmpretrain ``MAE``."""
    bb, neck = model.backbone, model.neck
    p = bb.patch_embed.projection.kernel_size[0]
    c = bb.patch_embed.projection.in_channels
    block = neck.decoder_blocks[0]
    return mae_step_flops(
        num_patches=(img_hw[0] // p) * (img_hw[1] // p),
        patch_dim=p * p * c,
        dim=bb.embed_dims,
        hidden=bb.layers[0].ffn.layers[0][0].out_features,
        depth=bb.num_layers,
        dec_dim=neck.decoder_embed.out_features,
        dec_hidden=block.ffn.layers[0][0].out_features,
        dec_depth=len(neck.decoder_blocks),
        mask_ratio=bb.mask_ratio)


def classifier_step_flops(num_patches: int, patch_dim: int, dim: int,
                          hidden: int, depth: int,
                          num_classes: int) -> Dict[str, int]:
    """FLOPs of one ViT classifier training step (fine-tuning, every layer
    trained) for ONE image: patch embedding, ``depth`` blocks on N + 1
    tokens (full attention), the linear head on one pooled token. Returns
    ``encoder``, ``head`` (forward), ``backward`` (2x both) and ``total``."""
    enc = (linear_flops(num_patches, patch_dim, dim)
           + depth * encoder_block_flops(num_patches + 1, dim, hidden))
    head = linear_flops(1, dim, num_classes)
    out = dict(encoder=enc, head=head, backward=2 * (enc + head))
    out['total'] = sum(out.values())
    return out


def classifier_model_step_flops(model: nn.Module,
                                img_hw: Sequence[int]) -> Dict[str, int]:
    """:func:`classifier_step_flops` with the dimensions read from a built
    mmpretrain ``ImageClassifier`` with a ``VisionTransformer`` backbone
    (``SemAIMViT`` included) and a linear head."""
    bb = model.backbone
    proj = bb.patch_embed.projection
    p = proj.kernel_size[0]
    return classifier_step_flops(
        num_patches=(img_hw[0] // p) * (img_hw[1] // p),
        patch_dim=p * p * proj.in_channels,
        dim=bb.embed_dims,
        hidden=bb.arch_settings['feedforward_channels'],
        depth=bb.num_layers,
        num_classes=model.head.fc.out_features)


def step_flops(model: nn.Module,
               img_hw: Sequence[int]) -> Optional[Dict[str, int]]:
    """The FLOP count of one training step per image for a built SemAIM,
    MAE or ViT ImageClassifier; ``None`` for any other model."""
    kind = type(model).__name__
    if kind == 'SemAIM':
        return model_step_flops(model, img_hw)
    if kind == 'MAE':
        return mae_model_step_flops(model, img_hw)
    if kind == 'ImageClassifier' and hasattr(
            getattr(model.backbone, 'patch_embed', None), 'projection'):
        return classifier_model_step_flops(model, img_hw)
    return None
