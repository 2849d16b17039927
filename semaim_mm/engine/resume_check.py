"""Refuse a resume whose model or optimizer settings differ from the run
that wrote the checkpoint.

mmengine restores the weights and the optimizer state (its learning rates,
betas and weight decay included) from the checkpoint over whatever the new
config says: a changed ``lr`` is silently ignored, and a changed width ends
in ``size mismatch`` lines and a traceback inside the optimizer.
:func:`check_resume_config` compares the checkpoint's saved config
(``meta['cfg']``, which mmengine writes into every checkpoint) with the new
one before anything is built, and refuses naming the changed keys. A changed
schedule or run length is applied instead (``SemAIMRunner.resume`` rebuilds
the config's ``param_scheduler`` at the resumed iteration); the loop, hooks
and data settings are the config's anyway.
"""
from typing import Any, Dict, List, Optional

import torch
from mmengine.config import Config

from .options import ConfigError

# What a resumed run takes from the checkpoint rather than the config
# (the batch size: the data position is counted in batches).
RESUMED = ('model', 'optim_wrapper.optimizer', 'optim_wrapper.paramwise_cfg',
           'train_dataloader.batch_size')
# Below these, a difference does not matter to a resumed run.
IGNORED = ('init_cfg', )


def saved_config(path: str) -> Optional[Config]:
    """The config saved in checkpoint ``path`` (None if it holds none)."""
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True,
                          mmap=True)
        text = ckpt.get('meta', {}).get('cfg')
        return Config.fromstring(text, '.py') if text else None
    except Exception:  # unreadable files are reported by the loader
        return None


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _leaves(value: Any, prefix: str, out: Dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            if k not in IGNORED:
                _leaves(v, f'{prefix}.{k}', out)
    elif isinstance(value, list) and value and any(
            isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            _leaves(v, f'{prefix}.{i}', out)
    else:
        out[prefix] = value


def _get(cfg: dict, dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split('.'):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def changed_settings(old: dict, new: dict) -> List[str]:
    """'key old -> new' for each setting of :data:`RESUMED` that differs
    between the configs ``old`` and ``new`` (plain dicts)."""
    changes = []
    for section in RESUMED:
        a: Dict[str, Any] = {}
        b: Dict[str, Any] = {}
        _leaves(_plain(_get(old, section)), section, a)
        _leaves(_plain(_get(new, section)), section, b)
        for key in [*b, *(k for k in a if k not in b)]:
            if a.get(key, '<unset>') != b.get(key, '<unset>'):
                changes.append(f'{key} {a.get(key, "<unset>")!r} -> '
                               f'{b.get(key, "<unset>")!r}')
    return changes


def check_resume_config(cfg: Config, checkpoint: str) -> None:
    """Raise :class:`ConfigError` when ``cfg`` changes what resuming from
    ``checkpoint`` restores (the model, the optimizer's settings and
    parameter groups, the batch size); checkpoints without a saved config
    are not checked."""
    old = saved_config(checkpoint)
    if old is None:
        return
    changes = changed_settings(old.to_dict(), cfg.to_dict())
    if not changes:
        return
    shown = '; '.join(changes[:6]) + (
        f'; and {len(changes) - 6} more' if len(changes) > 6 else '')
    raise ConfigError(
        f'--resume from {checkpoint}: the config differs from the run that '
        f'saved it ({shown}). A resumed run restores the weights and the '
        'optimizer state of the checkpoint, so these changes cannot take '
        'effect. Resume with the original settings, or start a new run from '
        f'its weights: --cfg-options load_from={checkpoint} (no --resume).')
