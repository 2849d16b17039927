"""Key maps between timm / the authors' names and mmpretrain's, and format
detection (pure dict operations)."""
import re
from collections import OrderedDict
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

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
TIMM_TO_MM_DECODER_BLOCK = TIMM_TO_MM_BLOCK + tuple(
    (f'attn.{p}.', f'attn.{p}.') for p in 'qkv')
TIMM_TO_MM_STEM = (
    ('cls_token', 'cls_token'),
    ('pos_embed', 'pos_embed'),
    ('patch_embed.proj.', 'patch_embed.projection.'),
)


def rename(key: str, table: Sequence[Tuple[str, str]],
           reverse: bool = False) -> Optional[str]:
    """``key`` with the first matching prefix of ``table`` replaced."""
    for src, dst in table:
        if reverse:
            src, dst = dst, src
        if key.startswith(src):
            return dst + key[len(src):]
    return None


def map_blocks(sd: StateDict, src_prefix: str, dst_prefix: str,
               table: Sequence[Tuple[str, str]],
               reverse: bool = False) -> StateDict:
    """Map ``{src_prefix}N.<name>`` to ``{dst_prefix}N.<mapped name>``."""
    out = OrderedDict()
    pattern = re.compile(re.escape(src_prefix) + r'(\d+)\.(.*)$')
    for key, value in sd.items():
        m = pattern.match(key)
        if not m:
            continue
        name = rename(m.group(2), table, reverse)
        if name is None:
            raise KeyError(f'unexpected key {key!r} in a transformer block')
        out[f'{dst_prefix}{m.group(1)}.{name}'] = value
    return out


def strip_prefix(sd: Mapping[str, Tensor], prefix: str) -> StateDict:
    """``sd`` without ``prefix`` when every key has it, else unchanged."""
    if sd and all(k.startswith(prefix) for k in sd):
        return OrderedDict((k[len(prefix):], v) for k, v in sd.items())
    return OrderedDict(sd)


def sub_dict(sd: Mapping[str, Tensor], prefix: str) -> StateDict:
    """The entries under ``prefix``, prefix removed."""
    return OrderedDict((k[len(prefix):], v) for k, v in sd.items()
                       if k.startswith(prefix))


def timm_vit_to_mm(sd: StateDict, blocks: str = 'blocks.',
                   norm: Optional[str] = 'norm.') -> StateDict:
    """timm ViT encoder keys -> mmpretrain ``VisionTransformer`` keys."""
    out = OrderedDict()
    for key, value in sd.items():
        name = rename(key, TIMM_TO_MM_STEM)
        if name is not None:
            out[name] = value
        elif norm and key.startswith(norm):
            out['ln1.' + key[len(norm):]] = value
    out.update(map_blocks(sd, blocks, 'layers.', TIMM_TO_MM_BLOCK))
    return out


def mm_vit_to_timm(sd: StateDict) -> StateDict:
    """mmpretrain ``VisionTransformer`` keys -> timm ViT encoder keys."""
    out = OrderedDict()
    for key, value in sd.items():
        name = rename(key, TIMM_TO_MM_STEM, reverse=True)
        if name is not None:
            out[name] = value
        elif key.startswith('ln1.'):
            out['norm.' + key[4:]] = value
    out.update(map_blocks(sd, 'layers.', 'blocks.', TIMM_TO_MM_BLOCK,
                          reverse=True))
    return out


# The first kind whose every entry some key starts with (an entry is one
# prefix or a tuple of alternatives); the order settles overlaps.
FORMAT_RULES: Tuple[Tuple[str, tuple], ...] = (
    ('detector', ('backbone.', ('roi_head.', 'rpn_head.'))),
    ('segmentor', ('backbone.', 'decode_head.')),
    ('semaim', ('backbone.layers.', 'neck.blocks.')),
    ('classifier', ('backbone.', ('head.fc', 'head.layers'))),
    ('reference', ('blocks.', 'query_blocks.')),
    ('timm-vit', ('blocks.', 'patch_embed.proj.')),
    ('backbone', ('layers.', 'patch_embed.projection.')),
)


def detect_format(keys: Union[Mapping[str, Any], Sequence[str]]) -> str:
    """The kind of a state dict (or of its keys): ``semaim``, ``reference``,
    ``backbone``, ``timm-vit``, ``detector``, ``segmentor``, ``classifier``
    or ``unknown``. A ``module.`` prefix (DDP) is ignored."""
    keys = [k[7:] if k.startswith('module.') else k for k in keys]
    for kind, entries in FORMAT_RULES:
        if all(any(k.startswith(e) for k in keys) for e in entries):
            return kind
    return 'unknown'
