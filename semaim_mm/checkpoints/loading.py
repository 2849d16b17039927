"""Reading checkpoint files and loading the encoder they hold, strictly."""
import argparse
import os.path as osp
import pickle
import re
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from .integrity import checkpoint_problem
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


class UnsafeCheckpointError(pickle.UnpicklingError, ValueError):
    """A checkpoint holds objects that only unsafe loading would build."""


def read_checkpoint(path: str, trusted: bool = False,
                    source: str = 'checkpoint') -> Dict[str, Any]:
    """The top-level dict of a ``torch.save`` file, read ``weights_only``
    (nothing executed) unless ``trusted``; the authors' ``argparse.Namespace``
    (``args``) is allow-listed, it is a plain record. ``source`` names the
    config key or argument in errors."""
    if not path or not osp.isfile(path):
        raise FileNotFoundError(missing_checkpoint_message(source, path))
    problem = checkpoint_problem(path)
    if problem is not None:
        raise ValueError(f'{source}={path!r} cannot be used: {problem}')
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            ckpt = torch.load(path, map_location='cpu',
                              weights_only=not trusted)
    except pickle.UnpicklingError as e:
        # torch's text: advice to load unsafely, then the unpickler's reason
        text = str(e).split('WeightsUnpickler error:')[-1]
        why = ' '.join(text.split('Check the documentation')[0].split())
        why = why.split('. Please')[0] or 'unreadable pickle'
        if trusted or 'Unsupported global' not in why:
            raise ValueError(f'{source}={path!r} is not a readable torch '
                             f'checkpoint ({why})') from None
        raise UnsafeCheckpointError(
            f'{source}={path!r} holds objects that cannot be loaded without '
            f'running code (Weights only load refused them: {why}); if the '
            'file is trusted, run once with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1'
        ) from None
    except (EOFError, IndexError, RuntimeError, KeyError) as e:
        raise ValueError(f'{source}={path!r} is not a readable torch '
                         f'checkpoint ({type(e).__name__}: {e})') from None
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


def saved_grid(ckpt: Mapping[str, Any]) -> Optional[Tuple[int, int]]:
    """The backbone's patch grid recorded in a checkpoint's saved config
    (mmengine writes ``meta['cfg']``), or None."""
    text = (ckpt.get('meta') or {}).get('cfg') if isinstance(
        ckpt.get('meta'), dict) else None
    if not text:
        return None
    try:
        from mmengine.config import Config
        backbone = Config.fromstring(text, '.py').model.backbone
        size, patch = backbone.img_size, backbone.patch_size
    except Exception:  # not a config of this project's models
        return None
    size = (size, size) if isinstance(size, int) else tuple(size)
    patch = (patch, patch) if isinstance(patch, int) else tuple(patch)
    return size[0] // patch[0], size[1] // patch[1]


def fit_pos_embed(module: nn.Module, sd: StateDict, name: str,
                  grid: Optional[Tuple[int, int]] = None) -> Optional[str]:
    """Resize ``sd['pos_embed']`` to ``module``'s patch grid when they
    differ; returns the log line saying so (None when nothing changed).
    The checkpoint's grid is ``grid`` (its saved config) or, without it, the
    square one its patch count gives; a non-square table whose grid is not
    recorded is a ``ValueError`` naming the cause."""
    pos, own = sd.get('pos_embed'), getattr(module, 'pos_embed', None)
    if pos is None or own is None or pos.shape == own.shape or \
            pos.shape[-1] != own.shape[-1] or pos.dim() != 3:
        return None
    extra = getattr(module, 'num_extra_tokens', 1)
    n = pos.shape[1] - extra
    new = tuple(module.patch_resolution)
    if grid is None or grid[0] * grid[1] != n:
        side = int(round(n**0.5))
        grid = (side, side) if side * side == n else None
    if grid is None:
        pairs = [f'{h}x{n // h}' for h in range(1, int(n**0.5) + 1)
                 if n % h == 0 and n // h <= 4 * h]
        raise ValueError(
            f'{name}: its position table holds {n} patches, not a square '
            f'grid ({", ".join(pairs) or "no grid"}?), and the file does '
            'not record its grid, so it cannot be resized to this model\'s '
            f'{new[0]}x{new[1]} grid: fine-tune at the pre-training\'s '
            'image size (--cfg-options model.backbone.img_size=[H,W]) or '
            'start from a checkpoint written by tools/train.py')
    from mmpretrain.models.utils import resize_pos_embed as mm_resize
    mode = getattr(module, 'interpolate_mode', 'bicubic')
    sd['pos_embed'] = mm_resize(pos, grid, new, mode, extra)
    return (f'{name}: position table resized from the checkpoint\'s '
            f'{grid[0]}x{grid[1]} patch grid to this model\'s '
            f'{new[0]}x{new[1]} ({mode} interpolation)')


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
    name = checkpoint if isinstance(checkpoint, str) else source
    if isinstance(checkpoint, str) or checkpoint is None:
        checkpoint = read_checkpoint(checkpoint or '', source=source)
    sd, kind = load_encoder_state_dict(checkpoint, prefix, name)
    sd = OrderedDict(sd)
    from mmengine.logging import MMLogger
    resized = fit_pos_embed(module, sd, name, saved_grid(checkpoint))
    if resized:
        MMLogger.get_current_instance().info(resized)
    cls = type(module).__name__
    try:
        missing, unexpected = module.load_state_dict(sd, strict=False)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if 'size' in ln]
        raise RuntimeError(
            f'{name} does not fit {cls}: {"; ".join(lines[:4])} (an encoder '
            'of another width, or another patch size)') from None
    bad_missing = [k for k in missing if not _matches(k, new_keys)]
    bad_unexpected = [k for k in unexpected if not _matches(k, unused_keys)]
    if bad_missing or bad_unexpected:
        raise KeyError(
            f'{name} ({kind}) does not match {cls}: missing '
            f'{bad_missing[:8]}{" ..." if len(bad_missing) > 8 else ""} '
            f'({len(bad_missing)}), unexpected {bad_unexpected[:8]} (an '
            'encoder of another depth, or the wrong prefix?)')
    MMLogger.get_current_instance().info(
        f'{cls}: loaded {len(sd) - len(unexpected)} tensors from {name} '
        f'({kind}); new (randomly initialised): {len(missing)} tensors; '
        f'unused: {sorted(unexpected)}')
    return list(missing), list(unexpected)
