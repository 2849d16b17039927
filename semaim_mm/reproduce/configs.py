"""Config edits the matrix makes to every stage (budget, seed, init,
label subset, validate-once-at-the-end) and the checks on the result.

The recipe lives in the configs and the spec's overrides; this module only
sets what makes stages comparable: the length of the run (learning-rate
milestones are written for the config's own length and scaled to the new
one), the seed, which weights initialise the encoder, and a single
validation after the last epoch / iteration (no ``save_best``).
"""
import copy
import re
from typing import Any, Optional

from mmengine.config import Config, ConfigDict

from ..engine.schedule import rescale
from .spec import SpecError

RECORDER = 'StageRecorderHook'
HELD_OUT_WORDS = ('test', 'val', 'validation', 't10k')
TEST_WORDS = ('test', 't10k')
# Datasets whose train file also holds the validation split: training must
# read the split without it.
TRAIN_SPLIT_OF = {'FashionMNISTDataset': 'train_minus_val'}
SAVE_BEST_KEYS = ('save_best', 'rule', 'greater_keys', 'less_keys')


def get_key(cfg, key: str, default: Any = None) -> Any:
    """``cfg['a.b.c']`` for dotted keys (``default`` when absent)."""
    node = cfg
    for part in key.split('.'):
        if not hasattr(node, 'keys') or part not in node:
            return default
        node = node[part]
    return node


def set_key(cfg, key: str, value: Any) -> None:
    """Replace ``cfg['a.b.c']`` by ``value`` (no merging into dicts)."""
    parts = key.split('.')
    node = cfg
    for part in parts[:-1]:
        if not hasattr(node.get(part), 'keys'):
            node[part] = ConfigDict()
        node = node[part]
    node[parts[-1]] = ConfigDict(value) if isinstance(value, dict) else value


def merge(cfg: Config, overrides: dict) -> None:
    """mmengine ``merge_from_dict`` (dotted keys, ``_delete_`` honoured) on a
    copy, so the spec's dicts are never consumed."""
    if overrides:
        cfg.merge_from_dict(copy.deepcopy(dict(overrides)))


def loop_unit(cfg) -> str:
    """``'iters'`` or ``'epochs'``: how the config's train loop counts."""
    train = cfg.get('train_cfg') or {}
    if 'max_iters' in train:
        return 'iters'
    if 'max_epochs' in train:
        return 'epochs'
    raise SpecError('train_cfg has neither max_iters nor max_epochs')


def scale_schedule(cfg, new: int) -> int:
    """Set the run length to ``new`` epochs / iterations and rescale the
    parameter schedulers with it (:func:`semaim_mm.engine.schedule.rescale`).
    Returns the old length."""
    unit = loop_unit(cfg)
    key = f'max_{unit}'
    old = cfg.train_cfg[key]
    cfg.train_cfg[key] = new
    schedulers = cfg.get('param_scheduler') or []
    for s in ([schedulers] if isinstance(schedulers, dict) else schedulers):
        if s.get('by_epoch', True) != (unit == 'epochs'):
            raise SpecError(
                f"param_scheduler {s.get('type')} counts "
                f"{'epochs' if s.get('by_epoch', True) else 'iterations'} in "
                f'a loop that counts {unit}: write it in {unit} to scale it')
    rescale(schedulers, unit == 'epochs', old, new)
    return old


def set_warmup(cfg, fraction: float) -> None:
    """A warm-up of ``fraction`` of the run: the first scheduler (the linear
    warm-up) ends and the next one begins there; a ``T_max`` that spanned
    the second scheduler still spans it."""
    scheds = cfg.get('param_scheduler')
    if not isinstance(scheds, (list, tuple)) or len(scheds) != 2 or \
            scheds[0].get('type') != 'LinearLR':
        raise SpecError('the warmup axis needs a [LinearLR, decay] '
                        'param_scheduler')
    if not 0 <= fraction < 1:
        raise SpecError(f'warmup must be in [0, 1), got {fraction}')
    warm, decay = scheds
    length = cfg.train_cfg[f'max_{loop_unit(cfg)}']
    spans = decay.get('T_max') == decay.get('end', length) - decay.get(
        'begin', 0)
    end = max(1, round(fraction * length))
    warm['end'] = end
    decay['begin'] = end
    if spans:
        decay['T_max'] = decay.get('end', length) - end


def prepare_training(cfg, length: int, validate: bool) -> None:
    """Length, one checkpoint at the end, validation only after the last
    epoch / iteration (``validate``), the stage recorder, no resume."""
    scale_schedule(cfg, length)
    if validate:
        if not cfg.get('val_dataloader'):
            raise SpecError('an evaluation config needs a val_dataloader '
                            '(the held-out split the number is read from)')
        cfg.train_cfg['val_interval'] = length
    ckpt = cfg.get('default_hooks', {}).get('checkpoint')
    if ckpt is None:
        raise SpecError('the config has no default_hooks.checkpoint')
    for k in SAVE_BEST_KEYS:
        ckpt.pop(k, None)
    ckpt.update(interval=length, max_keep_ckpts=1, save_last=True)
    hooks = [h for h in cfg.get('custom_hooks') or []
             if h.get('type') != RECORDER]
    cfg.custom_hooks = hooks + [dict(type=RECORDER, progress=10)]
    imports = cfg.get('custom_imports') or dict(imports=[])
    mods = list(imports.get('imports', []))
    if 'semaim_mm.reproduce' not in mods:
        mods.append('semaim_mm.reproduce')
    cfg.custom_imports = dict(imports, imports=mods,
                              allow_failed_imports=False)
    cfg.resume = False
    cfg.load_from = None


def wrap_subset(cfg, key: str, fraction: Optional[float], seed: int) -> None:
    """Replace the dataset at ``key`` by its class-balanced subset."""
    if fraction is None or fraction >= 1:
        return
    inner = get_key(cfg, key)
    if inner is None:
        raise SpecError(f'label_fraction: the config has no {key}')
    set_key(cfg, key, dict(type='ClassBalancedSubset', dataset=inner,
                           fraction=fraction, seed=seed))


def pixel_backbone(cfg, kind: str) -> None:
    """Raw pixels instead of the ViT (the probes' reference row)."""
    size = get_key(cfg, 'model.backbone.img_size', 28)
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    set_key(cfg, 'model.backbone', dict(type='RawPixels', channels=1))
    if kind == 'train':
        set_key(cfg, 'model.neck.input_features', h * w)
        set_key(cfg, 'model.head.in_channels', h * w)


def _held_out(value) -> bool:
    words = re.findall(r'[a-z0-9]+', str(value).lower())
    return any(w in HELD_OUT_WORDS for w in words)


def check_train_split(ds, where: str) -> None:
    """Training data must come from the training split: ``split='train'``
    where the dataset has one, no held-out words in its paths."""
    if not isinstance(ds, dict):
        return
    for inner in ('dataset', 'datasets'):
        for sub in (ds.get(inner) if isinstance(ds.get(inner), list)
                    else [ds.get(inner)]):
            check_train_split(sub, where)
    split = ds.get('split')
    allowed = TRAIN_SPLIT_OF.get(ds.get('type'), 'train')
    if split is not None and split != allowed:
        raise SpecError(f'{where}: trains on split {split!r}; only '
                        f'{allowed!r} may be used for training')
    for key in ('ann_file', 'data_prefix', 'data_root'):
        if key in ds and _held_out(ds[key]):
            raise SpecError(f'{where}: {key}={ds[key]!r} looks like a '
                            'held-out split; train on the training split')


def held_out(cfg, kind: str):
    """The dataset a stage evaluates on (None: a pre-training)."""
    if kind == 'knn':
        return get_key(cfg, 'knn.query_dataset')
    if kind == 'pretrain':
        return None
    return get_key(cfg, 'val_dataloader.dataset')


def _reads_test(ds) -> bool:
    if not isinstance(ds, dict):
        return False
    for inner in ('dataset', 'datasets'):
        subs = ds.get(inner)
        if any(_reads_test(d) for d in (subs if isinstance(subs, list)
                                        else [subs])):
            return True
    if ds.get('split') == 'test':
        return True
    words = re.findall(r'[a-z0-9]+', ' '.join(
        str(ds.get(k, '')) for k in ('ann_file', 'data_prefix',
                                     'data_root')).lower())
    return any(w in TEST_WORDS for w in words)


def _indices(ds) -> Optional[set]:
    idx = ds.get('indices') if isinstance(ds, dict) else None
    if isinstance(idx, int):
        return set(range(idx))
    return set(idx) if idx is not None else None


def _without_indices(ds):
    return {k: v for k, v in ds.items() if k != 'indices'} \
        if isinstance(ds, dict) else ds


def check_tuning(tune_ds, final_ds, where: str) -> None:
    """A tuning stage must not read the reported split: not the test split,
    not the final cells' evaluation data (same dataset and overlapping or
    unrestricted ``indices``)."""
    if _reads_test(tune_ds):
        raise SpecError(f'{where}: a tuning stage would evaluate on the test '
                        'split; point tune_overrides at the validation split')
    if _without_indices(tune_ds) == _without_indices(final_ds):
        a, b = _indices(tune_ds), _indices(final_ds)
        if a is None or b is None or a & b:
            raise SpecError(f'{where}: a tuning stage would evaluate on the '
                            "final cells' data; give tune_overrides and "
                            'test_overrides disjoint parts')


def check_stage(cfg, kind: str) -> None:
    """The comparability rules every resolved stage must satisfy."""
    if kind == 'knn':
        check_train_split(get_key(cfg, 'knn.bank_dataset'), 'knn bank')
        return
    check_train_split(cfg.train_dataloader.get('dataset'), 'train_dataloader')
    ckpt = cfg.default_hooks.checkpoint
    if any(k in ckpt for k in SAVE_BEST_KEYS):
        raise SpecError('save_best chooses on the evaluation split')
    if kind == 'train':
        unit = loop_unit(cfg)
        if cfg.train_cfg.get('val_interval') != cfg.train_cfg[f'max_{unit}']:
            raise SpecError('validation must run once, after the last '
                            f'{unit[:-1]}')
