"""tools/install_mmcv.sh keys its wheel cache by torch version and CUDA
version, and builds CUDA ops only when they can be built. A stand-in
``torch`` package on PYTHONPATH plays each torch build (version, CUDA,
GPU); a stub ``nvcc`` plays the CUDA toolkit."""
import os
import os.path as osp
import stat
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TORCH = '''__version__ = {version!r}
class version:
    cuda = {cuda!r}
class cuda:
    @staticmethod
    def is_available():
        return {gpu!r}
'''


def cache_dir(tmp_path, version='2.14.1+cu128', cuda='12.8', gpu=True,
              nvcc='path', **env_extra):
    fake = tmp_path / 'fake'
    (fake / 'torch').mkdir(parents=True)
    (fake / 'torch' / '__init__.py').write_text(
        TORCH.format(version=version, cuda=cuda, gpu=gpu))
    tools = tmp_path / 'cuda' / 'bin'
    tools.mkdir(parents=True)
    (tools / 'nvcc').write_text('#!/bin/sh\n')
    os.chmod(tools / 'nvcc', stat.S_IRWXU)
    env = {k: v for k, v in os.environ.items()
           if k not in ('CUDA_HOME', 'CUDA_PATH', 'FORCE_CUDA')}
    env.update(PYTHON=sys.executable, PYTHONPATH=str(fake),
               MMCV_WHEEL_CACHE=str(tmp_path / 'cache'), **env_extra)
    # this host's own nvcc, if any, is taken off PATH
    path = [d for d in env['PATH'].split(os.pathsep)
            if not os.access(osp.join(d, 'nvcc'), os.X_OK)]
    env['PATH'] = os.pathsep.join(
        ([str(tools)] if nvcc == 'path' else []) + path)
    if nvcc == 'cuda_home':
        env['CUDA_HOME'] = str(tools.parent)
    res = subprocess.run(['bash', 'tools/install_mmcv.sh',
                          '--print-cache-dir'], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    out = res.stdout.strip()
    assert osp.dirname(out) == str(tmp_path / 'cache')
    return osp.basename(out), res.stderr


@pytest.mark.parametrize('case,want', [
    (dict(), 'torch-2.14.1-cu128'),
    (dict(nvcc='cuda_home'), 'torch-2.14.1-cu128'),
    (dict(version='2.14.1+cu126', cuda='12.6'), 'torch-2.14.1-cu126'),
    (dict(version='2.13.0+cu128'), 'torch-2.13.0-cu128'),
    (dict(gpu=False), 'torch-2.14.1-cpu'),
    (dict(gpu=False, FORCE_CUDA='1'), 'torch-2.14.1-cu128'),
    (dict(version='2.14.1+cpu', cuda=None, gpu=False, FORCE_CUDA='1'),
     'torch-2.14.1-cpu'),
])
def test_cache_key_is_torch_and_cuda_version(tmp_path, case, want):
    key, err = cache_dir(tmp_path, **case)
    assert key == want and err == ''


def test_gpu_without_nvcc_builds_cpu_ops_and_says_so(tmp_path):
    key, err = cache_dir(tmp_path, nvcc=None)
    assert key == 'torch-2.14.1-cpu'
    assert err.startswith('warning: ') and 'nvcc' in err
    assert len(err.strip().splitlines()) == 1
