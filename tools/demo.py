"""The embedded demo: pre-train a small SemAIM on Fashion-MNIST on this CPU
and print where the checkpoint is."""
import argparse
import os.path as osp

from mmengine.config import Config
from mmengine.runner import Runner

import semaim_mm  # noqa: F401

CONFIG = osp.join(osp.dirname(__file__), '..', 'configs', 'pretrain',
                  'semaim_vit-tiny-p7_fashion-mnist.py')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--iters', type=int, default=300)
    args = parser.parse_args()
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = args.work_dir
    cfg.train_cfg.max_iters = args.iters
    runner = Runner.from_cfg(cfg)
    runner.train()
    ckpt = osp.join(args.work_dir, f'iter_{args.iters}.pth')
    print(f'SemAIM checkpoint: {osp.abspath(ckpt)}')


if __name__ == '__main__':
    main()
