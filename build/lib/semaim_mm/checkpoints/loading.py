"""Reading checkpoint files and loading the encoder they hold, strictly."""
import argparse
import os.path as osp
import re
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from .keys import (StateDict, detect_format, strip_prefix, sub_dict,
                   timm_vit_to_mm)
from .reference import reference_to_semaim

Checkpoint = Union[str, Mapping[str, Any]]


def missing_checkpoint_message(source: str, path: Optional[str]) -> str:
    """What to do about an empty or missing checkpoint path given as
    ``source`` (a config key such as ``model.backbone.init_cfg.checkpoint``,
    or an argument name)."""
    what = f'{source} is empty' if not path else \
        f'{source}={path!r} does not exist'
    fix = (f' (--cfg-options {source}=PATH)' if '.' in source or
           source == 'load_from' else '')
    random = (' or train from random weights with --cfg-options '
              f'{source.rsplit(".", 1)[0]}=None' if 'init_cfg' in source
              else '')
    return (f'{what}: give a checkpoint{fix}: pre-train one (tools/train.py '
            'configs/pretrain/...) or convert one (tools/model_converters/)'
            f'{"," if random else ""}{random}')


def read_checkpoint(path: str, trusted: bool = False,
                    source: str = 'checkpoint') -> Dict[str, Any]:
    """The top-level dict of a ``torch.save`` file, read ``weights_only``
    (nothing executed) unless ``trusted``; the authors' ``argparse.Namespace``
    (``args``) is allow-listed, it is a plain record. ``source`` names the
    config key or argument in errors."""
    if not path or not osp.isfile(path):
        raise FileNotFoundError(missing_checkpoint_message(source, path))
    with torch.serialization.safe_globals([argparse.Namespace]):
        ckpt = torch.load(path, map_location='cpu', weights_only=not trusted)
    if not isinstance(ckpt, dict):
        raise ValueError(f'{source}={path!r} does not hold a state dict')
    return ckpt


def state_dict_of(ckpt: Mapping[str, Any]) -> StateDict:
    """The state dict inside a checkpoint: its ``state_dict`` / ``model`` /
    ``module`` entry (the first one that is a dict: ``main_pretrain.py``'s
    ``model`` is a name) or the dict itself; DDP's ``module.`` stripped."""
    for key in ('state_dict', 'model', 'module'):
        if isinstance(ckpt.get(key), dict):
            ckpt = ckpt[key]
            break
    return strip_prefix(
        OrderedDict((k, v) for k, v in ckpt.items() if torch.is_tensor(v)),
        'module.')


def resize_pos_embed(pos_embed: Tensor, new_grid: Tuple[int, int],
                     num_extra_tokens: int = 1,
                     mode: str = 'bicubic') -> Tensor:
    """(1, extra + h*w, C) -> (1, extra + H*W, C) by mmpretrain's
    interpolation; the old grid is taken as square (pre-training grids
    are)."""
    from mmpretrain.models.utils import resize_pos_embed as mm_resize
    n = pos_embed.shape[1] - num_extra_tokens
    side = int(round(n**0.5))
    if side * side != n:
        raise ValueError(f'position embedding of {n} patches is not a square '
                         'grid; pass the source grid explicitly')
    return mm_resize(pos_embed, (side, side), tuple(new_grid), mode,
                     num_extra_tokens)


def load_encoder_state_dict(checkpoint: Checkpoint,
                            prefix: Optional[str] = None,
                            source: str = 'checkpoint',
                            trusted: bool = False) -> Tuple[StateDict, str]:
    """Encoder weights (``backbone`` format: mmpretrain names, no prefix)
    from any checkpoint that holds a SemAIM encoder.

    Args:
        checkpoint: a path or an already loaded checkpoint / state dict:
            this project's pre-training, the authors' (any of their three
            layouts, converted on the fly), a bare backbone, a classifier, a
            timm ViT or, with ``prefix``, e.g. ``'backbone.'``, a detector /
            segmentor.
        prefix: only used where the format does not say where the encoder
            is (detector, segmentor, unknown).
        source: the config key or argument it came from, for errors.

    Returns:
        (state dict, detected source format).
    """
    from_file = checkpoint is None or isinstance(checkpoint, str)
    name = checkpoint if from_file else source
    ckpt = read_checkpoint(checkpoint or '', trusted, source) if from_file \
        else checkpoint
    sd = state_dict_of(ckpt)
    kind = detect_format(sd)
    if prefix and kind not in ('semaim', 'reference', 'classifier'):
        stripped = sub_dict(sd, prefix)
        if not stripped:
            raise KeyError(f'{name}: no key starts with prefix {prefix!r} '
                           f'(a {kind!r} checkpoint)')
        sd, kind = stripped, detect_format(stripped)
    if kind == 'reference':
        return sub_dict(reference_to_semaim(sd, blur=False), 'backbone.'), kind
    if kind in ('semaim', 'classifier'):
        return sub_dict(sd, 'backbone.'), kind
    if kind == 'timm-vit':
        return timm_vit_to_mm(sd), kind
    if kind == 'backbone':
        return sd, kind
    raise ValueError(
        f'{name}: a {kind!r} checkpoint cannot initialise the SemAIM '
        'encoder; give a SemAIM pre-training, authors\' reference, backbone, '
        "classifier or timm ViT checkpoint (or prefix='backbone.' for a "
        'detector / segmentor)')


def semaim_to_backbone(sd: Mapping[str, Tensor],
                       new_grid: Optional[Tuple[int, int]] = None
                       ) -> StateDict:
    """Encoder-only state dict of a SemAIM, reference or classifier state
    dict, with the position embedding optionally interpolated to
    ``new_grid`` (patches)."""
    kind = detect_format(sd)
    if kind not in ('semaim', 'reference', 'classifier'):
        raise ValueError(
            f'expected a SemAIM pre-training checkpoint, got a {kind!r} one: '
            'pass the checkpoint written by tools/train.py with a '
            'configs/pretrain config (or the authors\' checkpoint)')
    out, _ = load_encoder_state_dict(sd)
    if new_grid is not None:
        out['pos_embed'] = resize_pos_embed(out['pos_embed'], new_grid)
    return out


def _matches(key: str, patterns: Sequence[str]) -> bool:
    return any(re.match(p, key) for p in patterns)


def load_encoder_into(module: nn.Module, checkpoint: Checkpoint,
                      prefix: Optional[str] = None,
                      new_keys: Sequence[str] = (),
                      unused_keys: Sequence[str] = (),
                      source: str = 'model.backbone.init_cfg.checkpoint'
                      ) -> Tuple[List[str], List[str]]:
    """Load the encoder of ``checkpoint`` (:func:`load_encoder_state_dict`)
    into ``module``, strictly: a missing key not matching ``new_keys``
    (regular expressions: parameters no encoder checkpoint has) or an
    unexpected one not matching ``unused_keys`` is a ``KeyError`` listing
    them; a shape mismatch a ``RuntimeError``. The module's load pre-hooks
    apply (position-embedding resizing). Returns (missing, unexpected)."""
    sd, kind = load_encoder_state_dict(checkpoint, prefix, source)
    name = checkpoint if isinstance(checkpoint, str) else source
    cls = type(module).__name__
    try:
        missing, unexpected = module.load_state_dict(sd, strict=False)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if 'size' in ln]
        raise RuntimeError(
            f'{name} does not fit {cls}: {"; ".join(lines[:4])} (an encoder '
            'of another width or patch size?)') from None
    bad_missing = [k for k in missing if not _matches(k, new_keys)]
    bad_unexpected = [k for k in unexpected if not _matches(k, unused_keys)]
    if bad_missing or bad_unexpected:
        raise KeyError(
            f'{name} ({kind}) does not match {cls}: missing '
            f'{bad_missing[:8]}{" ..." if len(bad_missing) > 8 else ""} '
            f'({len(bad_missing)}), unexpected {bad_unexpected[:8]} (an '
            'encoder of another depth, or the wrong prefix?)')
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().info(
        f'{cls}: loaded {len(sd) - len(unexpected)} tensors from {name} '
        f'({kind}); new (randomly initialised): {len(missing)} tensors; '
        f'unused: {sorted(unexpected)}')
    return list(missing), list(unexpected)
