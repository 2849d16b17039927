"""Train any mmpretrain / mmdet / mmseg config of this project (mmengine
Runner): the command line of :func:`semaim_mm.apis.train`.

The registry scope comes from the config's ``default_scope``. Before
anything is built: the launcher's environment, the config file and every
``--cfg-options`` key, the pre-flight (data, annotations, checkpoint, AMP
device), the work dir (writable; one run per work dir, a lock) and the
resume checkpoint (complete; the same model and optimizer settings). User
mistakes end in one ``error: ...`` line and exit status 1; a preempted run
(SIGTERM / SIGUSR1) saves its iteration and exits with status 75
(``semaim_mm.engine.PREEMPTED_EXIT``).
"""
import argparse
import os

from mmengine.config import DictAction

from semaim_mm.apis import train
from semaim_mm.preflight import add_preflight_arguments, run_tool


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


def main() -> None:
    args = parse_args()
    train(args.config, args.work_dir,
          resume=True if args.resume == 'auto' else args.resume or False,
          resume_or_start=args.resume_or_start, amp=args.amp,
          fp32=args.fp32, validate=not args.no_validate,
          auto_scale_lr=args.auto_scale_lr,
          pin_memory=not args.no_pin_memory, tensorboard=args.tensorboard,
          log_level=args.log_level, cfg_options=args.cfg_options,
          launcher=args.launcher, strict_data=args.strict_data,
          preflight_only=args.preflight_only)


if __name__ == '__main__':
    run_tool(main)
