"""tools/dist_train.sh's checks before it starts anything: GPUS against the
node's GPU count (a stub ``nvidia-smi`` on PATH plays an 8-GPU node), GPUS
that is not a number, and a rendezvous port already in use. A stub PYTHON
records whether anything was started."""
import os
import os.path as osp
import socket
import stat
import subprocess

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/pretrain/semaim_vitb_800e.py'


def _script(path, body: str) -> str:
    with open(path, 'w') as f:
        f.write('#!/usr/bin/env bash\n' + body)
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)
    return str(path)


@pytest.fixture
def node(tmp_path):
    """(env, started-log): 8 stub GPUs and a PYTHON that logs its args."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    _script(bin_dir / 'nvidia-smi',
            'for i in 0 1 2 3 4 5 6 7; do echo "GPU $i: NVIDIA H100 '
            '(UUID: GPU-$i)"; done\n')
    log = tmp_path / 'started'
    python = _script(tmp_path / 'python', f'echo "$@" >> {log}\n')
    env = {k: v for k, v in os.environ.items()
           if k not in ('CUDA_VISIBLE_DEVICES', 'PORT', 'MASTER_PORT')}
    env.update(PATH=f'{bin_dir}:{env["PATH"]}', PYTHON=python,
               PORT=str(_free_port()))
    return env, log


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def dist_train(env, *args):
    return subprocess.run(['bash', 'tools/dist_train.sh', *args], cwd=ROOT,
                          env=env, capture_output=True, text=True,
                          timeout=60)


def error_line(res) -> str:
    lines = res.stderr.strip().splitlines()
    assert res.returncode != 0 and len(lines) == 1, res.stderr
    assert lines[0].startswith('error: ')
    return lines[0]


def test_more_gpus_than_the_node_has_names_the_multi_node_form(node):
    env, started = node
    line = error_line(dist_train(env, CONFIG, '32'))
    assert 'this node has 8 GPUs' in line
    assert ('NNODES=4 NODE_RANK=i MASTER_ADDR=' in line
            and f'tools/dist_train.sh {CONFIG} 8' in line)
    assert 'tools/slurm_train.sh' in line
    assert not started.exists()


def test_visible_devices_narrow_the_count(node):
    env, started = node
    env['CUDA_VISIBLE_DEVICES'] = '0,1'
    line = error_line(dist_train(env, CONFIG, '4'))
    assert 'this node has 2 GPUs' in line and 'NNODES=2' in line
    assert not started.exists()


def test_gpus_within_the_node_start(node):
    env, started = node
    res = dist_train(env, CONFIG, '8', '--work-dir', 'x')
    assert res.returncode == 0, res.stderr
    calls = started.read_text().splitlines()
    assert '--preflight-only' in calls[0]
    assert '--nproc_per_node=8' in calls[1] and '--work-dir x' in calls[1]


def test_no_gpu_runs_any_count_on_the_cpu(node, tmp_path):
    env, started = node
    os.remove(tmp_path / 'bin' / 'nvidia-smi')
    _script(tmp_path / 'bin' / 'nvidia-smi', 'exit 9\n')  # driver missing
    assert dist_train(env, CONFIG, '32').returncode == 0
    assert '--nproc_per_node=32' in started.read_text()


def test_work_dir_in_place_of_gpus(node):
    env, started = node
    line = error_line(dist_train(env, CONFIG, '--work-dir', 'x'))
    assert "GPUS" in line and "'--work-dir'" in line
    assert f'tools/dist_train.sh {CONFIG} 8 --work-dir x' in line
    assert not started.exists()


def test_port_in_use(node):
    env, started = node
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        s.listen()
        env['PORT'] = str(s.getsockname()[1])
        line = error_line(dist_train(env, CONFIG, '8'))
        assert f'port {env["PORT"]} is in use' in line
        assert 'PORT=' in line and 'MASTER_PORT=' in line
        del env['PORT']
        env['MASTER_PORT'] = str(s.getsockname()[1])
        assert 'is in use' in error_line(dist_train(env, CONFIG, '8'))
    assert not started.exists()
