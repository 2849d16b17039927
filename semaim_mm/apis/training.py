"""Train a config of this project: everything ``tools/train.py`` does after
parsing its command line, as a function.

Before anything is built: the launcher's environment, the config file and
every ``cfg_options`` key, the pre-flight (data, annotations, checkpoint, AMP
device), the work dir (writable; one run per work dir, a lock) and the
resume checkpoint (complete; the same model and optimizer settings). User
mistakes raise one of :data:`semaim_mm.preflight.USER_ERRORS` with a
one-line message naming the fix (``tools/train.py`` prints it as
``error: ...``); a preempted run (SIGTERM / SIGUSR1) saves its iteration
and exits with status :data:`semaim_mm.engine.PREEMPTED_EXIT`.
"""
import copy
import os
import os.path as osp
from typing import Any, Dict, Optional, Union

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

# Imported for their registrations: the datasets, transforms, metrics and
# hooks that the project's configs name.
import semaim_mm.datasets  # noqa: F401
import semaim_mm.evaluation  # noqa: F401
from semaim_mm.cpu_malloc import keep_freed_memory
from semaim_mm.engine import (WorkDirLock, build_runner,
                              find_complete_checkpoint, launch_rank,
                              resume_checkpoint)
from semaim_mm.engine.options import check_options, load_config
from semaim_mm.engine.resume_check import check_resume_config
from semaim_mm.engine.schedule import rescale
from semaim_mm.preflight import PreflightError, check_launcher, preflight

AMP_ONLY_KEYS = ('loss_scale', 'dtype', 'use_fsdp')


def set_precision(cfg: Config, amp: bool, fp32: bool) -> None:
    """``amp``: AmpOptimWrapper (dynamic loss scale unless set); ``fp32``:
    a plain OptimWrapper in place of the config's AmpOptimWrapper."""
    if amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    elif fp32 and cfg.optim_wrapper.get('type') == 'AmpOptimWrapper':
        cfg.optim_wrapper.type = 'OptimWrapper'
        for key in AMP_ONLY_KEYS:
            cfg.optim_wrapper.pop(key, None)


def set_vis_backends(cfg: Config, options: Dict[str, Any],
                     tensorboard: bool) -> None:
    """Backends may be given by name (``--cfg-options
    visualizer.vis_backends=[LocalVisBackend,TensorboardVisBackend]``);
    a top-level ``vis_backends`` override reaches the visualizer too."""
    from mmengine.registry import VISBACKENDS
    vis = cfg.get('visualizer')
    if not vis:
        return
    if 'vis_backends' in options:
        vis['vis_backends'] = cfg.vis_backends
    backends = [dict(type=b) if isinstance(b, str) else b
                for b in vis.get('vis_backends') or []]
    if tensorboard and not any(
            b.get('type') == 'TensorboardVisBackend' for b in backends):
        backends.append(dict(type='TensorboardVisBackend'))
    for b in backends:
        if VISBACKENDS.get(b.get('type')) is None:
            raise PreflightError(
                f"unknown visualizer backend {b.get('type')!r}; choose from "
                f'{sorted(VISBACKENDS.module_dict)}')
        if b['type'] == 'TensorboardVisBackend':
            try:
                import tensorboard  # noqa: F401
            except ImportError:
                raise PreflightError(
                    'TensorBoard is not installed: pip install tensorboard '
                    '(requirements/runtime.txt lists it)') from None
    vis['vis_backends'] = backends


def set_schedule(cfg: Config, options: Dict[str, Any], old: dict) -> None:
    """A changed max_iters / max_epochs rescales the schedule's milestones
    (a warm-up keeps two iterations), unless the options set
    param_scheduler too."""
    if any(k.startswith('param_scheduler') for k in options):
        return
    for key, by_epoch in (('max_iters', False), ('max_epochs', True)):
        new = cfg.train_cfg.get(key) if cfg.get('train_cfg') else None
        if old.get(key) and new and new != old[key]:
            changes = rescale(cfg.get('param_scheduler'), by_epoch, old[key],
                              new)
            if changes:
                print_log(
                    f'train_cfg.{key}={new} (config: {old[key]}): '
                    f'param_scheduler rescaled: {"; ".join(changes)}',
                    logger='current')


def checked_config(cfg: Union[str, Config], options: Dict[str, Any],
                   launcher: str, work_dir: Optional[str],
                   preflight_only: bool) -> Config:
    """The config (loaded, or a copy of the one given) with its launcher
    and work dir set, after the checks shared by :func:`train` and
    :func:`~semaim_mm.apis.test`: the launcher's environment (once, outside
    the launcher: not for ``preflight_only``) and that every key of
    ``options`` is one the config reads."""
    if not preflight_only:
        check_launcher(launcher)
    cfg = load_config(cfg) if isinstance(cfg, str) else copy.deepcopy(cfg)
    check_options(cfg, options)
    cfg.launcher = launcher
    cfg.work_dir = work_dir if work_dir is not None else default_work_dir(cfg)
    return cfg


def default_work_dir(cfg: Config) -> str:
    """The config's ``work_dir``, else ``./work_dirs/CONFIG_NAME``."""
    if cfg.get('work_dir', None) is not None:
        return cfg.work_dir
    if not cfg.filename:
        raise PreflightError('this config has no file name and no work_dir; '
                             'pass work_dir')
    return osp.join('./work_dirs',
                    osp.splitext(osp.basename(cfg.filename))[0])


def choose_resume(cfg: Config, resume: Union[bool, str],
                  resume_or_start: bool) -> None:
    """``resume=True`` / ``resume_or_start``: the newest complete checkpoint
    inside the work dir, never one outside it."""
    if resume is True:
        cfg.load_from, cfg.resume = resume_checkpoint(cfg.work_dir), True
    elif resume_or_start:
        found = find_complete_checkpoint(cfg.work_dir)
        if found is None:
            print_log(f'--resume-or-start: no checkpoint in '
                      f'{osp.abspath(cfg.work_dir)}; starting from scratch.',
                      logger='current')
        cfg.load_from, cfg.resume = found, found is not None
    if cfg.resume and cfg.load_from:
        check_resume_config(cfg, cfg.load_from)


def train(cfg: Union[str, Config],
          work_dir: Optional[str] = None,
          *,
          resume: Union[bool, str] = False,
          resume_or_start: bool = False,
          amp: bool = False,
          fp32: bool = False,
          validate: bool = True,
          auto_scale_lr: bool = False,
          pin_memory: bool = True,
          tensorboard: bool = False,
          log_level: Optional[str] = None,
          cfg_options: Optional[Dict[str, Any]] = None,
          launcher: str = 'none',
          strict_data: bool = False,
          preflight_only: bool = False) -> Optional[Runner]:
    """Check and train a config with the project's Runner.

    Args:
        cfg: A config file, or a loaded config (left unchanged; a copy is
            trained).
        work_dir: Where logs and checkpoints go. Defaults to the config's
            ``work_dir``, else ``./work_dirs/CONFIG_NAME``.
        resume: ``True``: resume from the newest complete checkpoint in the
            work dir (an error when there is none); a path: resume from
            that checkpoint.
        resume_or_start: Resume like ``resume=True`` when the work dir holds
            a checkpoint, else start from scratch (for schedulers that
            restart jobs). Excludes ``resume``.
        amp: Mixed-precision training (needs a GPU).
        fp32: Train in fp32 although the config uses ``AmpOptimWrapper``.
            Excludes ``amp``.
        validate: ``False`` skips validation during training.
        auto_scale_lr: Scale the learning rate by the real batch size.
        pin_memory: ``False`` turns off ``pin_memory`` in every dataloader.
        tensorboard: Also write TensorBoard event files.
        log_level: The config's ``log_level`` (``'DEBUG'``, ``'INFO'``,
            ``'WARNING'``).
        cfg_options: Dotted keys to override (``{'train_cfg.max_iters':
            10}``); a key no config reads is an error naming the nearest
            real one. A changed ``train_cfg.max_iters`` / ``max_epochs``
            rescales ``param_scheduler`` unless that is overridden too.
        launcher: ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``; the
            launcher's environment variables must be set.
        strict_data: Bad COCO boxes are an error instead of a warning.
        preflight_only: Run the checks (incl. the work-dir lock and the
            resume checkpoint) and return None without training.

    Returns:
        The Runner after training, or None with ``preflight_only``.

    Example:
        >>> from semaim_mm.apis import train
        >>> train('configs/pretrain/semaim_vit-tiny-p4_fashion-mnist.py',
        ...       work_dir='work_dirs/tiny',
        ...       cfg_options={'train_cfg.max_iters': 100})
    """
    if resume and resume_or_start:
        raise ValueError('resume and resume_or_start exclude each other')
    if amp and fp32:
        raise ValueError('amp and fp32 exclude each other')
    options = dict(cfg_options or {})
    cfg = checked_config(cfg, options, launcher, work_dir, preflight_only)
    set_precision(cfg, amp, fp32)
    if isinstance(resume, str):
        cfg.resume = True
        cfg.load_from = resume
    if auto_scale_lr:
        if not cfg.get('auto_scale_lr'):
            raise PreflightError(
                'auto_scale_lr needs the config to name the batch size its '
                'lr is for: auto_scale_lr = dict(base_batch_size=N)')
        cfg.auto_scale_lr.enable = True
    if not validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if not pin_memory:
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            if cfg.get(key):
                cfg[key]['pin_memory'] = False
    if log_level:
        cfg.log_level = log_level
    train_cfg = cfg.get('train_cfg') or {}
    old = {k: train_cfg.get(k) for k in ('max_iters', 'max_epochs')}
    cfg.merge_from_dict(options)
    set_schedule(cfg, options, old)
    set_vis_backends(cfg, options, tensorboard)

    preflight(cfg, tool='train', strict=strict_data)
    if resume is True and not osp.isdir(cfg.work_dir):
        resume_checkpoint(cfg.work_dir)  # a typo: fail before creating it
    lock = WorkDirLock(cfg.work_dir)
    if preflight_only:
        if os.environ.get('NODE_RANK', '0') == '0':  # other nodes start later
            lock.check_usable()
            lock.check()
        choose_resume(cfg, resume, resume_or_start)
        return None
    if launch_rank() == 0:  # rank 0 holds the lock for the whole run
        took_over = lock.acquire()
        if took_over:
            print_log(took_over, logger='current', level=30)
    try:  # released on return too: a later call may train in the same dir
        choose_resume(cfg, resume, resume_or_start)
        keep_freed_memory()  # CPU steps reuse freed tensor memory
        runner = build_runner(cfg)
        runner.train()
    finally:
        lock.release()
    return runner
