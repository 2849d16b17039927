"""The Runner the tools build: mmengine's, with a readable log.

``tools/train.py`` and ``tools/test.py`` use it for every config (mmpretrain,
mmdet, mmseg) that names no ``runner_type`` of its own.
"""
import copy
import logging
import os.path as osp

import torch
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import EpochBasedTrainLoop, Runner

from .preemption import PreemptionHook
from .run_report import InputSizeCheckHook, QuietLogFilter, RunReportHook
from .schedule import fit_windows


def _iterations(value: float, epoch_length: int) -> int:
    return int(value * epoch_length)  # mmengine's build_iter_from_epoch


def fit_converted_windows(schedulers, epoch_length: int,
                          total: int) -> tuple:
    """Copies of ``schedulers`` whose epoch-based windows converted to
    iterations (``convert_to_iter_based``) hold at least
    :data:`~semaim_mm.engine.schedule.MIN_WINDOW` iterations (a warm-up of
    0.05 epochs on a 1-iteration epoch would be 0: mmengine refuses it),
    and the sentences saying what changed. ``total``: the run's
    iterations."""
    # built schedulers (a resume passes them again) stay the same objects
    items = [copy.deepcopy(s) if isinstance(s, dict) else s
             for s in schedulers]
    converted = [s for s in items if isinstance(s, dict) and
                 s.get('by_epoch', True) and s.get('convert_to_iter_based')
                 and isinstance(s.get('end'), (int, float))]
    if not converted:
        return items, []
    as_iters = []
    for s in converted:
        it = dict(type=s.get('type'),
                  begin=_iterations(s.get('begin', 0), epoch_length),
                  end=_iterations(s['end'], epoch_length))
        if 'T_max' in s and s['T_max'] == s['end'] - s.get('begin', 0):
            it['T_max'] = it['end'] - it['begin']
        as_iters.append(it)
    before = [(it['begin'], it['end']) for it in as_iters]
    notes = fit_windows(as_iters, total,
                        [s['end'] - s.get('begin', 0) for s in converted])
    changed = []
    for s, it, (b, e) in zip(converted, as_iters, before):
        if (it['begin'], it['end']) == (b, e):
            continue
        # whole iterations again after mmengine's int(x * epoch_length)
        s['begin'] = (it['begin'] + 0.5) / epoch_length if it['begin'] \
            else s.get('begin', 0)
        s['end'] = (it['end'] + 0.5) / epoch_length
        if 'T_max' in it:
            s['T_max'] = (it['end'] - it['begin']) / epoch_length
        changed.append(f"{it['type']} iterations [{b}, {e}) -> "
                       f"[{it['begin']}, {it['end']})")
    return items, changed + notes


# A scheduler's progress; every other attribute is its configured shape.
_PROGRESS = ('optimizer', 'last_step', '_global_step', 'base_values',
             '_last_value', '_get_lr_called_within_step', 'verbose')


def schedule_shape(schedulers) -> list:
    """(type, configured attributes) of each built parameter scheduler."""
    if not isinstance(schedulers, (list, tuple)):
        return []
    return [(type(s).__name__, {k: v for k, v in vars(s).items()
                                if k not in _PROGRESS}) for s in schedulers]


def shape_changes(old: list, new: list) -> list:
    """'Type key a->b' for each configured attribute that differs."""
    if len(old) != len(new):
        return [f'{len(old)} schedulers -> {len(new)}']
    out = []
    for (name, a), (_, b) in zip(old, new):
        out += [f'{name} {k} {a.get(k)}->{b.get(k)}' for k in b
                if a.get(k) != b.get(k)]
    return out


@RUNNERS.register_module()
class SemAIMRunner(Runner):
    """``mmengine.runner.Runner`` plus :mod:`semaim_mm.engine.run_report`:
    one line per upstream INFO dump (all of it at ``log_level='DEBUG'``),
    progress at least every 10% of the run, and the image-size check; a
    :class:`PreemptionHook` unless the config lists one; no
    ``persistent_workers`` without workers; converted warm-ups of at least
    two iterations."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register_hook(RunReportHook())
        self.register_hook(InputSizeCheckHook())
        if not any(isinstance(h, PreemptionHook) for h in self.hooks):
            self.register_hook(PreemptionHook())

    def train(self):
        try:
            return super().train()
        finally:  # an in-process caller keeps its own signal handlers
            for hook in self.hooks:
                if isinstance(hook, PreemptionHook):
                    hook.restore()

    @staticmethod
    def build_dataloader(dataloader, seed=None, diff_rank_seed=False):
        """mmengine's, except that ``persistent_workers`` is dropped when
        there are no workers (``num_workers=0``, which bit-exact resume
        asks for): torch refuses the pair."""
        if isinstance(dataloader, dict) and \
                not dataloader.get('num_workers', 0):
            dataloader = {**dataloader, 'persistent_workers': False}
        return Runner.build_dataloader(dataloader, seed, diff_rank_seed)

    def _build_param_scheduler(self, scheduler, optim_wrapper):
        """mmengine's, with converted epoch windows of at least two
        iterations (:func:`fit_converted_windows`), said in one line; a
        scheduler without ``end`` runs to the end of training, as in
        mmengine."""
        if isinstance(scheduler, (list, tuple)) and \
                getattr(self, '_train_loop', None) is not None and \
                not isinstance(self._train_loop, dict):
            # mmengine's default `end` (the end of training) first, so that
            # a scheduler running to the end moves with a widened warm-up
            scheduler = [
                dict(s, end=self.max_epochs if s.get('by_epoch', True)
                     else self.max_iters)
                if isinstance(s, dict) and 'end' not in s else s
                for s in scheduler]
            scheduler, changed = fit_converted_windows(
                scheduler, len(self.train_dataloader), self.max_iters)
            if changed:
                n = len(self.train_dataloader)
                print_log(f'param_scheduler with {n} iteration'
                          f'{"s" if n != 1 else ""} per epoch: '
                          f'{"; ".join(changed)}', logger='current')
        return super()._build_param_scheduler(scheduler, optim_wrapper)

    def resume(self, filename: str, *args, **kwargs) -> None:
        """mmengine's resume, except that the config's ``param_scheduler``
        wins over the checkpoint's when they differ (a longer or shorter
        run: ``train_cfg.max_iters`` rescales it): the config's schedulers
        are rebuilt and stepped to the resumed iteration, so the run
        continues on the schedule a fresh run of this config would be on.
        Said in one line."""
        configured = schedule_shape(self.param_schedulers)
        super().resume(filename, *args, **kwargs)
        changes = shape_changes(schedule_shape(self.param_schedulers),
                                configured)
        if configured and changes:
            self._restart_schedule()
            print_log(
                f'Resumed at iteration {self.iter} with the config\'s '
                f'param_scheduler, not the checkpoint\'s ({"; ".join(changes)}'
                f'): replayed to iteration {self.iter}, lr '
                f'{self.optim_wrapper.param_groups[0]["lr"]:.4g}.',
                logger='current')

    def _restart_schedule(self) -> None:
        """Build the config's schedulers on the resumed optimizer and step
        them as ``ParamSchedulerHook`` would have up to this iteration."""
        names = {s.param_name for s in self.param_schedulers}
        for group in self.optim_wrapper.param_groups:
            for name in names:
                group[name] = group.get(f'initial_{name}', group[name])
        fresh = self._build_param_scheduler(self.cfg.param_scheduler,
                                            self.optim_wrapper)
        per_epoch = len(self.train_dataloader)
        epochs = isinstance(self.train_loop, EpochBasedTrainLoop)
        for i in range(self.iter):
            for s in fresh:
                if not s.by_epoch:
                    s.step()
            if epochs and (i + 1) % per_epoch == 0:
                for s in fresh:
                    if s.by_epoch:
                        s.step()
        self.param_schedulers = fresh

    def build_logger(self, log_level='INFO', log_file=None, **kwargs):
        logger = super().build_logger(log_level, log_file, **kwargs)
        level = logging.getLevelName(log_level) if isinstance(
            log_level, str) else log_level
        if not isinstance(level, int) or level > logging.DEBUG:
            name = osp.basename(self.cfg.filename or '') or 'in memory'
            logger.addFilter(QuietLogFilter(name))
        return logger


def allow_tf32() -> bool:
    """On a CUDA machine, fp32 matmuls and cuDNN convolutions may use TF32
    (what autocast leaves in fp32, and fp32 runs: about 8x an fp32 matmul
    on A100 / H100). The similarity map and the targets opt out
    (:func:`semaim_mm.models.precision.full_fp32`). Returns whether it was
    set."""
    if not torch.cuda.is_available():
        return False
    torch.backends.cuda.matmul.fp32_precision = 'tf32'
    torch.backends.cudnn.conv.fp32_precision = 'tf32'
    return True


def build_runner(cfg) -> Runner:
    """The tools' launch path: the config's ``runner_type`` if it names one,
    else :class:`SemAIMRunner`; with a launcher, mmengine's distributed
    set-up is first made to work on CPUs (``compat.patch_mmengine_cpu_dist``).
    TF32 is allowed on CUDA machines (:func:`allow_tf32`).
    """
    allow_tf32()
    if cfg.get('launcher', 'none') != 'none':
        from ..compat import patch_mmengine_cpu_dist
        patch_mmengine_cpu_dist()
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return SemAIMRunner.from_cfg(cfg)
