"""Train any mmpretrain / mmdet / mmseg config of this project (mmengine
Runner).

The registry scope comes from the config's ``default_scope``; ``semaim_mm`` is
imported first so its modules and version shims are in place. Before anything
is built: the launcher's environment, the config file and every
``--cfg-options`` key, the pre-flight (data, annotations, checkpoint, AMP
device), the work dir (writable; one run per work dir, a lock) and the resume
checkpoint (complete; the same model and optimizer settings). User
mistakes end in one ``error: ...`` line and exit status 1; a preempted run
(SIGTERM / SIGUSR1) saves its iteration and exits with status 75
(``semaim_mm.engine.PREEMPTED_EXIT``).
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.logging import print_log

import semaim_mm  # noqa: F401  (registers modules, applies compat shims)
from semaim_mm.cpu_malloc import keep_freed_memory
from semaim_mm.engine import (WorkDirLock, build_runner,
                              find_complete_checkpoint, launch_rank,
                              resume_checkpoint)
from semaim_mm.engine.options import check_options, load_config
from semaim_mm.engine.resume_check import check_resume_config
from semaim_mm.engine.schedule import rescale
from semaim_mm.preflight import (PreflightError, add_preflight_arguments,
                                 check_launcher, preflight, run_tool)

AMP_ONLY_KEYS = ('loss_scale', 'dtype', 'use_fsdp')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint, or (no path) from the newest '
        'complete checkpoint in the work dir; an error when there is none')
    resume.add_argument(
        '--resume-or-start', action='store_true',
        help='resume like --resume when the work dir holds a checkpoint, '
        'else start from scratch (for schedulers that restart jobs)')
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument(
        '--amp', action='store_true', help='mixed-precision training (GPU)')
    precision.add_argument(
        '--fp32', action='store_true',
        help="train in fp32 even when the config uses AmpOptimWrapper")
    parser.add_argument(
        '--no-validate', action='store_true',
        help='skip validation during training')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the learning rate by the real batch size')
    parser.add_argument(
        '--no-pin-memory', action='store_true', help='disable pin_memory')
    parser.add_argument(
        '--tensorboard', action='store_true',
        help='also write TensorBoard event files (WORK_DIR/TIMESTAMP/'
        'vis_data); view with: tensorboard --logdir WORK_DIR')
    parser.add_argument(
        '--log-level', choices=['DEBUG', 'INFO', 'WARNING'],
        help="the config's log_level; DEBUG prints mmengine's full "
        'environment, config and per-parameter optimizer options')
    add_preflight_arguments(
        parser, 'data, checkpoint, device, work-dir lock, resume',
        'tools/dist_train.sh')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, xxx=yyy format; changing '
        'train_cfg.max_iters / max_epochs rescales param_scheduler')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def set_precision(cfg: Config, args: argparse.Namespace) -> None:
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    elif args.fp32 and cfg.optim_wrapper.get('type') == 'AmpOptimWrapper':
        cfg.optim_wrapper.type = 'OptimWrapper'
        for key in AMP_ONLY_KEYS:
            cfg.optim_wrapper.pop(key, None)


def set_vis_backends(cfg: Config, args: argparse.Namespace) -> None:
    """Backends may be given by name (``--cfg-options
    visualizer.vis_backends=[LocalVisBackend,TensorboardVisBackend]``);
    a top-level ``vis_backends`` override reaches the visualizer too."""
    from mmengine.registry import VISBACKENDS
    vis = cfg.get('visualizer')
    if not vis:
        return
    if 'vis_backends' in (args.cfg_options or {}):
        vis['vis_backends'] = cfg.vis_backends
    backends = [dict(type=b) if isinstance(b, str) else b
                for b in vis.get('vis_backends') or []]
    if args.tensorboard and not any(
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


def set_schedule(cfg: Config, args: argparse.Namespace, old: dict) -> None:
    """A changed max_iters / max_epochs rescales the schedule's milestones
    (a warm-up keeps two iterations), unless --cfg-options sets
    param_scheduler too."""
    options = args.cfg_options or {}
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


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Fold the command-line switches into the config."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    set_precision(cfg, args)
    if args.resume not in (None, 'auto'):
        cfg.resume = True
        cfg.load_from = args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.no_pin_memory:
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            if cfg.get(key):
                cfg[key]['pin_memory'] = False
    if args.log_level:
        cfg.log_level = args.log_level
    train_cfg = cfg.get('train_cfg') or {}
    old = {k: train_cfg.get(k) for k in ('max_iters', 'max_epochs')}
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    set_schedule(cfg, args, old)
    set_vis_backends(cfg, args)
    return cfg


def choose_resume(cfg: Config, args: argparse.Namespace) -> None:
    """--resume (no path) / --resume-or-start: the newest complete
    checkpoint inside the work dir, never one outside it."""
    if args.resume == 'auto':
        cfg.load_from, cfg.resume = resume_checkpoint(cfg.work_dir), True
    elif args.resume_or_start:
        found = find_complete_checkpoint(cfg.work_dir)
        if found is None:
            print_log(f'--resume-or-start: no checkpoint in '
                      f'{osp.abspath(cfg.work_dir)}; starting from scratch.',
                      logger='current')
        cfg.load_from, cfg.resume = found, found is not None
    if cfg.resume and cfg.load_from:
        check_resume_config(cfg, cfg.load_from)


def main() -> None:
    args = parse_args()
    if not args.preflight_only:  # run once outside the launcher
        check_launcher(args.launcher)
    cfg = load_config(args.config)
    check_options(cfg, args.cfg_options)
    cfg = merge_args(cfg, args)
    preflight(cfg, tool='train', strict=args.strict_data)
    if args.resume == 'auto' and not osp.isdir(cfg.work_dir):
        resume_checkpoint(cfg.work_dir)  # a typo: fail before creating it
    lock = WorkDirLock(cfg.work_dir)
    if args.preflight_only:
        if os.environ.get('NODE_RANK', '0') == '0':  # other nodes start later
            lock.check_usable()
            lock.check()
        choose_resume(cfg, args)
        return
    if launch_rank() == 0:  # rank 0 holds the lock for the whole run
        took_over = lock.acquire()
        if took_over:
            print_log(took_over, logger='current', level=30)
    try:
        choose_resume(cfg, args)
    except BaseException:
        lock.release()  # nothing was built; free the work dir at once
        raise
    keep_freed_memory()  # CPU steps reuse freed tensor memory (no faults)
    build_runner(cfg).train()


if __name__ == '__main__':
    run_tool(main)
