"""What a checkpoint file holds (:func:`~.keys.detect_format` of its weights)
and why that kind does not fit a tool or SemAIM pre-training."""
import argparse
from typing import Optional

import torch

from .keys import detect_format
from .loading import state_dict_of

# Why a checkpoint of a given layout (:func:`detect_format`) is not what a
# tool needs; one clause each, completed by :func:`kind_mismatch`.
KIND_FIXES = {
    'reference': "it is an authors' reference (skyoux/SemAIM) checkpoint; "
    'convert it first: python tools/model_converters/semaim_reference.py '
    'IN OUT',
    'detector': 'it is a detector checkpoint (mmdet)',
    'segmentor': 'it is a segmentor checkpoint (mmseg)',
    'classifier': 'it is a classifier (fine-tuning) checkpoint',
    'backbone': 'it holds a bare backbone (semaim_to_backbone output)',
    'timm-vit': 'it is a timm ViT',
    'semaim': 'it is a SemAIM pre-training checkpoint',
}
_NO_LAYOUT = ('its keys match no known layout (expected backbone.layers.* '
              'and neck.blocks.*)')


def peek_state_dict(path: str) -> Optional[dict]:
    """The state dict of ``path`` (memory-mapped, weights only), or None if
    torch cannot read it that way (the caller reports it its own way)."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            ckpt = torch.load(path, map_location='cpu', weights_only=True,
                              mmap=True)
    except Exception:
        return None
    return state_dict_of(ckpt) if isinstance(ckpt, dict) else {}


def checkpoint_kind(path: str) -> Optional[str]:
    """The layout of the weights in ``path`` (:func:`detect_format`), or None
    when the file cannot be read as a weights-only checkpoint."""
    sd = peek_state_dict(path)
    return None if sd is None else detect_format(sd)


def kind_mismatch(kind: str, wanted: str) -> str:
    """Why a ``kind`` checkpoint is not what ``wanted`` needs (one clause)."""
    return f'{KIND_FIXES.get(kind, _NO_LAYOUT)}; {wanted} needs a different ' \
        'checkpoint'


def kind_problem(kind: str, resume: bool) -> Optional[str]:
    """Why a checkpoint of ``kind`` cannot start SemAIM pre-training, or
    None. The authors' checkpoint is fine for ``load_from`` (converted on the
    fly), not for ``--resume`` (its optimizer state is in their parameter
    order)."""
    if kind == 'semaim' or (kind == 'reference' and not resume):
        return None
    if kind == 'reference':
        return ("it is an authors' reference (skyoux/SemAIM) checkpoint, "
                'whose optimizer state cannot be resumed here: start from its'
                ' weights with load_from=PATH (no --resume; converted on the '
                'fly) or convert it: python tools/model_converters/'
                'semaim_reference.py IN OUT')
    return kind_mismatch(kind, 'SemAIM pre-training') + \
        ' (work_dirs/.../iter_N.pth)'
