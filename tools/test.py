"""Evaluate a checkpoint with any mmpretrain / mmdet / mmseg config of this
project (mmengine Runner); prints the config's metrics. The command line of
:func:`semaim_mm.apis.test`.

The launcher's environment, the config file and its ``--cfg-options`` keys,
then the pre-flight (test data, annotations, checkpoint kind) are checked
first; user mistakes end in one ``error: ...`` line and exit status 1.
"""
import argparse
import os

from mmengine.config import DictAction

from semaim_mm import apis
from semaim_mm.preflight import add_preflight_arguments, run_tool


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument(
        '--out', help='dump the metrics (and predictions) to this pickle')
    add_preflight_arguments(parser, 'data, annotations, checkpoint',
                            'tools/dist_test.sh')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, xxx=yyy format')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main() -> None:
    args = parse_args()
    metrics = apis.test(args.config, args.checkpoint, args.work_dir,
                        out=args.out, cfg_options=args.cfg_options,
                        launcher=args.launcher, strict_data=args.strict_data,
                        preflight_only=args.preflight_only)
    if not args.preflight_only:
        print({k: float(v) if hasattr(v, '__float__') else v
               for k, v in (metrics or {}).items()})


if __name__ == '__main__':
    run_tool(main)
