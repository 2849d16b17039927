"""End to end: generate a small mosaic set, train the tiny UperNet a few
iterations with tools/train.py, evaluate with tools/test.py (IoUMetric)."""
import ast
import os.path as osp
import subprocess
import sys

import pytest

from .conftest import REPO, TINY_CONFIG


@pytest.mark.slow
def test_train_then_test_prints_miou(tmp_path, python_env):
    from semaim_mm.datasets.mosaic import generate_mosaic
    generate_mosaic(str(tmp_path / 'mosaic'), num_train=8, num_val=4,
                    seed=0, fmt='ade20k')
    data_root = str(tmp_path / 'mosaic' / 'ade')
    work = str(tmp_path / 'work')
    opts = [
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=2', 'train_cfg.max_iters=4',
        'train_cfg.val_interval=4', 'default_hooks.checkpoint.interval=4',
        'param_scheduler.0.end=2', 'param_scheduler.1.begin=2',
        'param_scheduler.1.end=4',
    ]
    env = dict(python_env, OMP_NUM_THREADS='1')
    subprocess.run([sys.executable, 'tools/train.py', TINY_CONFIG,
                    '--work-dir', work, '--cfg-options', *opts],
                   cwd=REPO, env=env, check=True, timeout=600)
    ckpt = osp.join(work, 'iter_4.pth')
    assert osp.isfile(ckpt)
    out = subprocess.run([sys.executable, 'tools/test.py', TINY_CONFIG,
                          ckpt, '--work-dir', work, '--cfg-options', *opts],
                         cwd=REPO, env=env, check=True, timeout=600,
                         capture_output=True, text=True)
    metrics = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    assert set(metrics) >= {'aAcc', 'mIoU', 'mAcc'}
    assert 0. <= metrics['mIoU'] <= 100.
