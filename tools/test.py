"""Evaluate a checkpoint with any mmpretrain / mmdet / mmseg config of this
project (mmengine Runner); prints the config's metrics.

The launcher's environment, the config file and its ``--cfg-options`` keys,
then the pre-flight (test data, annotations, checkpoint kind) are checked
first; user mistakes end in one ``error: ...`` line and exit status 1.
"""
import argparse
import os
import os.path as osp

from mmengine.config import DictAction

import semaim_mm  # noqa: F401  (compat shims, the models)
from semaim_mm.engine import build_runner
from semaim_mm.engine.options import check_options, load_config
from semaim_mm.preflight import (add_preflight_arguments, check_launcher,
                                 preflight, run_tool)


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
    if not args.preflight_only:  # run once outside the launcher
        check_launcher(args.launcher)
    cfg = load_config(args.config)
    check_options(cfg, args.cfg_options)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    preflight(cfg, tool='test', checkpoint=args.checkpoint,
              strict=args.strict_data)
    if args.preflight_only:
        return
    cfg.load_from = args.checkpoint
    if args.out:
        cfg.test_evaluator = [cfg.test_evaluator] if isinstance(
            cfg.test_evaluator, dict) else list(cfg.test_evaluator)
        cfg.test_evaluator.append(
            dict(type='DumpResults', out_file_path=args.out))
    metrics = build_runner(cfg).test()
    print({k: float(v) if hasattr(v, '__float__') else v
           for k, v in (metrics or {}).items()})


if __name__ == '__main__':
    run_tool(main)
