"""A detection run on a GPU with a CPU-only mmcv stops when its config
loads, with one line naming the fix. "On a GPU" is played by a
``sitecustomize`` that makes ``torch.cuda.is_available()`` true; this
host's mmcv is the CPU-only build."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from semaim_mm.det import mmcv_ops
from semaim_mm.preflight import PreflightError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/det/semaim_vit-tiny_mask-rcnn_fpn_fashion-mosaic.py'


def test_cpu_only_mmcv_is_refused_on_a_gpu(monkeypatch):
    mmcv_ops.check_mmcv_cuda_ops()  # no GPU here: nothing to check
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert mmcv_ops.mmcv_cuda_version() == 'not available'
    with pytest.raises(PreflightError, match='tools/install_mmcv.sh'):
        mmcv_ops.check_mmcv_cuda_ops()
    monkeypatch.setattr(mmcv_ops, 'mmcv_cuda_version', lambda: '12.8')
    mmcv_ops.check_mmcv_cuda_ops()
    monkeypatch.setattr(mmcv_ops, 'mmcv_cuda_version', lambda: '')
    with pytest.raises(PreflightError, match='no compiled ops'):
        mmcv_ops.check_mmcv_cuda_ops()


def test_train_stops_at_config_load(tmp_path, python_env):
    (tmp_path / 'sitecustomize.py').write_text(
        'import torch\ntorch.cuda.is_available = lambda: True\n')
    env = dict(python_env, PYTHONPATH=os.pathsep.join(
        [str(tmp_path), python_env['PYTHONPATH']]))
    res = subprocess.run([sys.executable, 'tools/train.py', CONFIG,
                          '--work-dir', str(tmp_path / 'work')], cwd=ROOT,
                         env=env, capture_output=True, text=True,
                         timeout=300)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(lines) == 1, res.stderr[-3000:]
    assert lines[0].startswith('error: mmcv was built without CUDA ops')
    assert 'tools/install_mmcv.sh' in lines[0]
    assert not (tmp_path / 'work').exists()
