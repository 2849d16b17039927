"""tools/train.py trains and resumes; tools/dist_train.sh runs 2 CPU ranks."""
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = ['train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1']


def run(args, env, timeout=600):
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


@pytest.mark.slow  # two tools/train.py runs: about 65 s on the slow host
def test_train_mae_then_resume(tmp_path, python_env):
    cfg = 'configs/pretrain/mae_vit-tiny-p4_fashion-mnist.py'
    work = str(tmp_path / 'mae')
    opts = TINY + ['default_hooks.checkpoint.interval=5']
    run([sys.executable, 'tools/train.py', cfg, '--work-dir', work,
         '--cfg-options', 'train_cfg.max_iters=5'] + opts, python_env)
    assert osp.isfile(osp.join(work, 'iter_5.pth'))
    log = run([sys.executable, 'tools/train.py', cfg, '--work-dir', work,
               '--resume', '--cfg-options', 'train_cfg.max_iters=7'] + opts,
              python_env)
    assert 'resumed' in log.lower() and 'iter_5.pth' in log
    assert osp.isfile(osp.join(work, 'iter_7.pth'))


@pytest.mark.slow  # two torchrun ranks: about 26 s on the slow host
def test_dist_train_two_cpu_ranks(tmp_path, python_env):
    env = dict(python_env, PYTHON=sys.executable, PORT='29611')
    work = str(tmp_path / 'dist')
    log = run(['bash', 'tools/dist_train.sh',
               'configs/pretrain/semaim_vit-tiny-p4_fashion-mnist.py', '2',
               '--work-dir', work, '--cfg-options',
               'train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2']
              + TINY, env)
    assert 'Distributed launcher: pytorch' in log or 'world_size: 2' in log \
        or 'Distributed training: True' in log
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
