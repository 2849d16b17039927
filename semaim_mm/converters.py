"""Every checkpoint key mapping of the project, in both directions.

Formats:

* ``semaim``: this project's pre-training checkpoint (mmengine; keys
  ``backbone.*``, ``neck.*``, ``head.*``). ``backbone.*`` uses mmpretrain's
  ``VisionTransformer`` names, so ``init_cfg=dict(type='Pretrained',
  checkpoint=CKPT, prefix='backbone.')`` loads it into a classifier directly.
* ``reference``: the authors' code (timm names: ``blocks.N.norm1``,
  ``blocks.N.attn.qkv``, ``blocks.N.mlp.fc1``, ``norm``, ``query_blocks.N.*``,
  ``prediction_head.*``), stored under ``'model'``.
* ``backbone``: encoder only, mmpretrain names without prefix, for mmdet /
  mmseg backbones and ``VisionTransformer``.

Documented differences:

* The reference code has one final ``norm``, applied both to the encoder's
  output (similarity pass, fine-tuning) and to the decoder's output before the
  prediction MLP. Here these are two norms, ``backbone.ln1`` and
  ``head.norm``. reference -> semaim copies ``norm`` into both (so the
  converted model computes exactly what the reference computed);
  semaim -> reference writes ``head.norm`` as ``norm`` (the reference trains
  ``norm`` through the decoder only), so ``backbone.ln1`` is not carried over.
* ``VisionTransformer(out_type='avg_featmap')`` (fine-tuning with global
  average pooling) has an extra ``ln2`` that a pre-training checkpoint lacks:
  it is the one expected missing key; with ``final_norm=False`` the
  checkpoint's ``ln1`` is unused.
"""
import argparse
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor

StateDict = Dict[str, Tensor]

# timm / reference block names -> mmpretrain names (inside one block).
TIMM_TO_MM_BLOCK = (
    ('norm1.', 'ln1.'),
    ('attn.qkv.', 'attn.qkv.'),
    ('attn.proj.', 'attn.proj.'),
    ('norm2.', 'ln2.'),
    ('mlp.fc1.', 'ffn.layers.0.0.'),
    ('mlp.fc2.', 'ffn.layers.1.'),
)
# Decoder blocks: separate q/k/v projections, otherwise the same names.
TIMM_TO_MM_DECODER_BLOCK = (
    ('norm1.', 'ln1.'),
    ('attn.q.', 'attn.q.'),
    ('attn.k.', 'attn.k.'),
    ('attn.v.', 'attn.v.'),
    ('attn.proj.', 'attn.proj.'),
    ('norm2.', 'ln2.'),
    ('mlp.fc1.', 'ffn.layers.0.0.'),
    ('mlp.fc2.', 'ffn.layers.1.'),
)
TIMM_TO_MM_STEM = (
    ('cls_token', 'cls_token'),
    ('pos_embed', 'pos_embed'),
    ('patch_embed.proj.', 'patch_embed.projection.'),
)


def _rename(key: str, table: Sequence[Tuple[str, str]],
            reverse: bool = False) -> Optional[str]:
    for src, dst in table:
        if reverse:
            src, dst = dst, src
        if key.startswith(src):
            return dst + key[len(src):]
    return None


def _map_blocks(sd: StateDict, src_prefix: str, dst_prefix: str,
                table: Sequence[Tuple[str, str]],
                reverse: bool = False) -> StateDict:
    """Map ``{src_prefix}N.<name>`` to ``{dst_prefix}N.<mapped name>``."""
    out = OrderedDict()
    pattern = re.compile(re.escape(src_prefix) + r'(\d+)\.(.*)$')
    for key, value in sd.items():
        m = pattern.match(key)
        if not m:
            continue
        name = _rename(m.group(2), table, reverse)
        if name is None:
            raise KeyError(f'unexpected key {key!r} in a transformer block')
        out[f'{dst_prefix}{m.group(1)}.{name}'] = value
    return out


def timm_vit_to_mm(sd: StateDict, blocks: str = 'blocks.',
                   norm: Optional[str] = 'norm.') -> StateDict:
    """timm ViT encoder keys -> mmpretrain ``VisionTransformer`` keys."""
    out = OrderedDict()
    for key, value in sd.items():
        name = _rename(key, TIMM_TO_MM_STEM)
        if name is not None:
            out[name] = value
        elif norm and key.startswith(norm):
            out['ln1.' + key[len(norm):]] = value
    out.update(_map_blocks(sd, blocks, 'layers.', TIMM_TO_MM_BLOCK))
    return out


def mm_vit_to_timm(sd: StateDict) -> StateDict:
    """mmpretrain ``VisionTransformer`` keys -> timm ViT encoder keys."""
    out = OrderedDict()
    for key, value in sd.items():
        name = _rename(key, TIMM_TO_MM_STEM, reverse=True)
        if name is not None:
            out[name] = value
        elif key.startswith('ln1.'):
            out['norm.' + key[4:]] = value
    out.update(_map_blocks(sd, 'layers.', 'blocks.', TIMM_TO_MM_BLOCK,
                           reverse=True))
    return out


def reference_to_semaim(sd: StateDict) -> StateDict:
    """The authors' pre-training state dict -> :class:`SemAIM` state dict."""
    unknown = [
        k for k in sd if not re.match(
            r'(cls_token|pos_embed|patch_embed\.|blocks\.|query_blocks\.|'
            r'norm\.|prediction_head\.)', k)
    ]
    if unknown:
        raise KeyError(f'not a SemAIM reference checkpoint: unexpected keys '
                       f'{unknown[:5]}')
    out = OrderedDict(
        ('backbone.' + k, v)
        for k, v in timm_vit_to_mm(sd, 'blocks.', 'norm.').items())
    for k, v in _map_blocks(sd, 'query_blocks.', 'neck.blocks.',
                            TIMM_TO_MM_DECODER_BLOCK).items():
        out[k] = v
    for key, value in sd.items():
        if key.startswith('norm.'):
            out['head.norm.' + key[5:]] = value.clone()
        elif key.startswith('prediction_head.'):
            out['head.mlp.' + key[len('prediction_head.'):]] = value
    return out


def semaim_to_reference(sd: StateDict) -> StateDict:
    """:class:`SemAIM` state dict -> the authors' key layout (see module
    docstring: ``backbone.ln1`` has no place there)."""
    backbone = {k[9:]: v for k, v in sd.items() if k.startswith('backbone.')}
    out = OrderedDict(
        (k, v) for k, v in mm_vit_to_timm(backbone).items()
        if not k.startswith('norm.'))
    neck = {k[5:]: v for k, v in sd.items() if k.startswith('neck.')}
    out.update(
        _map_blocks(neck, 'blocks.', 'query_blocks.',
                    TIMM_TO_MM_DECODER_BLOCK, reverse=True))
    for key, value in sd.items():
        if key.startswith('head.norm.'):
            out['norm.' + key[10:]] = value
        elif key.startswith('head.mlp.'):
            out['prediction_head.' + key[9:]] = value
    return out


def detect_format(sd: StateDict) -> str:
    """Name the kind of a state dict: ``semaim``, ``reference``, ``backbone``,
    ``timm-vit``, ``detector``, ``segmentor``, ``classifier`` or
    ``unknown``."""
    keys = list(sd)

    def has(prefix):
        return any(k.startswith(prefix) for k in keys)

    if has('backbone.') and (has('roi_head.') or has('rpn_head.')):
        return 'detector'
    if has('backbone.') and has('decode_head.'):
        return 'segmentor'
    if has('backbone.layers.') and has('neck.blocks.'):
        return 'semaim'
    if has('backbone.') and (has('head.fc') or has('head.layers')):
        return 'classifier'
    if has('blocks.') and has('query_blocks.'):
        return 'reference'
    if has('blocks.') and has('patch_embed.proj.'):
        return 'timm-vit'
    if has('layers.') and has('patch_embed.projection.'):
        return 'backbone'
    return 'unknown'


def load_state_dict(path: str, trusted: bool = False) -> StateDict:
    """Read a state dict from an mmengine (``state_dict``), reference
    (``model``) or plain checkpoint, without executing code unless
    ``trusted``."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path!r} does not exist')
    # The reference code saves its argparse.Namespace; it is a plain record.
    with torch.serialization.safe_globals([argparse.Namespace]):
        ckpt = torch.load(path, map_location='cpu', weights_only=not trusted)
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path!r} does not hold a state dict')
    for key in ('state_dict', 'model', 'module'):
        if isinstance(ckpt.get(key), dict):
            return ckpt[key]
    return ckpt


def resize_pos_embed(pos_embed: Tensor, new_grid: Tuple[int, int],
                     num_extra_tokens: int = 1,
                     mode: str = 'bicubic') -> Tensor:
    """(1, extra + h*w, C) -> (1, extra + H*W, C) by interpolation; the old
    grid is taken as square (pre-training grids are)."""
    from mmpretrain.models.utils import resize_pos_embed as mm_resize
    n = pos_embed.shape[1] - num_extra_tokens
    side = int(round(n**0.5))
    if side * side != n:
        raise ValueError(f'position embedding of {n} patches is not a square '
                         'grid; pass the source grid explicitly')
    return mm_resize(pos_embed, (side, side), tuple(new_grid), mode,
                     num_extra_tokens)


def semaim_to_backbone(sd: StateDict,
                       new_grid: Optional[Tuple[int, int]] = None
                       ) -> StateDict:
    """Encoder-only state dict (mmpretrain names, no prefix) from a SemAIM
    or reference checkpoint, with the position embedding optionally
    interpolated to ``new_grid`` (patches)."""
    kind = detect_format(sd)
    if kind == 'reference':
        sd = reference_to_semaim(sd)
    elif kind not in ('semaim', 'classifier'):
        raise ValueError(
            f'expected a SemAIM pre-training checkpoint, got a {kind!r} one: '
            'pass the checkpoint written by tools/train.py with a '
            'configs/pretrain config (or the authors\' checkpoint)')
    out = OrderedDict(
        (k[len('backbone.'):], v) for k, v in sd.items()
        if k.startswith('backbone.'))
    if new_grid is not None:
        out['pos_embed'] = resize_pos_embed(out['pos_embed'], new_grid)
    return out
