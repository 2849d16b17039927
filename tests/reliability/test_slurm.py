"""tools/slurm_train.sh under a real Slurm: a single-node cluster on this
machine (munged, slurmctld, slurmd from Debian's slurm-wlm, started by
tools/dev/local_slurm.sh in a temporary folder, stopped after).

Needs root (the daemons) and, when Slurm is missing, apt-get (the fixture
runs tools/dev/install_slurm.sh); skips otherwise. A stand-in for python
checks what reaches the ranks (the signal ahead of the time limit, the
arguments, the requeue); the slow test trains 2 CPU ranks through srun,
mmengine's slurm launcher and gloo and compares with one process.
"""
import json
import os
import stat
import subprocess
import sys
import time
from typing import Optional

import pytest

from ._real import PYTHON, ROOT
from .test_ddp import (OPTS, assert_ranks_match_one_process, env, free_port,
                       train_one_process, write_config)

DEV = os.path.join(ROOT, 'tools', 'dev')
PREEMPTED = 75  # tools/train.py's status after a preemption save

# Stands in for python: records its arguments and the signals it gets,
# exits PREEMPTED on SIGTERM (as tools/train.py does after its save).
FAKE_PYTHON = f'''#!{sys.executable}
import json, os, signal, sys, time
out = os.path.join(os.environ['PROBE_DIR'],
                   'rank' + os.environ['SLURM_PROCID'] + '.json')
t0 = time.time()
def record(**kw):
    with open(out, 'w') as f:
        json.dump(dict(argv=sys.argv[1:], **kw), f)
def on_term(signum, frame):
    record(sigterm_after_s=time.time() - t0)
    sys.exit({PREEMPTED})
signal.signal(signal.SIGTERM, on_term)
record()
if os.environ.get('PROBE_EXIT'):
    sys.exit(int(os.environ['PROBE_EXIT']))
time.sleep(120)
'''


@pytest.fixture(scope='module')
def slurm(tmp_path_factory):
    """SLURM_CONF of a running single-node cluster."""
    if not sys.platform.startswith('linux') or os.geteuid() != 0:
        pytest.skip('a local Slurm cluster needs root on Linux (its daemons)')
    install = subprocess.run(['bash', os.path.join(DEV, 'install_slurm.sh')],
                             capture_output=True, text=True, timeout=900)
    if install.returncode:
        pytest.skip('Slurm is not installed and could not be: '
                    f'{install.stderr.strip().splitlines()[-1:]}')
    state = tmp_path_factory.mktemp('slurm')
    daemon_env = dict(os.environ, SLURMCTLD_PORT=str(free_port()),
                      SLURMD_PORT=str(free_port()))
    start = subprocess.run(
        ['bash', os.path.join(DEV, 'local_slurm.sh'), 'start', str(state)],
        env=daemon_env, capture_output=True, text=True, timeout=120)
    try:
        if start.returncode:
            pytest.skip(f'the local Slurm cluster did not start: '
                        f'{start.stderr.strip()[-500:]}')
        yield str(state / 'slurm.conf')
    finally:
        subprocess.run(['bash', os.path.join(DEV, 'local_slurm.sh'), 'stop',
                        str(state)], env=daemon_env, timeout=120)


def test_slurm_launcher_on_cpu_without_slurm():
    """mmengine's slurm launcher with the config's nccl on a CPU-only
    machine: the compat shim skips its CUDA device and takes gloo (one
    task, the SLURM_* variables set by hand; no cluster needed)."""
    code = (
        'import semaim_mm, torch\n'
        'from semaim_mm.compat import patch_mmengine_cpu_dist\n'
        'from mmengine.dist import init_dist, get_world_size\n'
        'patch_mmengine_cpu_dist()\n'
        "init_dist('slurm', backend='nccl')\n"
        'print(torch.distributed.get_backend(), get_world_size())\n')
    res = subprocess.run(
        [PYTHON, '-c', code], cwd=ROOT, capture_output=True, text=True,
        timeout=120, env=dict(
            env(), CUDA_VISIBLE_DEVICES='', SLURM_PROCID='0',
            SLURM_NTASKS='1', SLURM_LOCALID='0', SLURM_NODELIST='localhost',
            MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port())))
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ['gloo', '1']


def _slurm_env(conf: str, base: Optional[dict] = None, **kw: str) -> dict:
    """``base`` (os.environ) on the test cluster: no SLURM_* variable of a
    job this test may itself run in."""
    base = dict(os.environ if base is None else base)
    return {**{k: v for k, v in base.items() if not k.startswith('SLURM_')},
            'SLURM_CONF': conf, **kw}


def _fake_python(tmp_path) -> str:
    path = tmp_path / 'python'
    path.write_text(FAKE_PYTHON)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _probe(tmp_path, rank: int) -> dict:
    return json.loads((tmp_path / f'rank{rank}.json').read_text())


@pytest.mark.slow  # ~30 s: slurmctld checks the signal times every 30 s
def test_term_reaches_every_rank_ahead_of_the_time_limit(slurm, tmp_path):
    """--signal=TERM@SIGNAL_AHEAD: with a 1-minute limit and 50 s ahead,
    SIGTERM reaches both ranks well before the limit (Slurm's own SIGTERM
    at the limit would come after 60 s); the ranks run train.py with the
    slurm launcher and --resume-or-start; the script exits with their 75."""
    start = time.time()
    res = subprocess.run(
        ['bash', 'tools/slurm_train.sh', 'debug', 'probe', 'CFG.py', 'WD',
         '--cfg-options', 'a=1'], cwd=ROOT, capture_output=True, text=True,
        timeout=150, env=_slurm_env(
            slurm, PYTHON=_fake_python(tmp_path),
            PROBE_DIR=str(tmp_path), GPUS='2', GPUS_PER_NODE='0',
            CPUS_PER_TASK='1', SIGNAL_AHEAD='50', SRUN_ARGS='--time=1'))
    assert res.returncode == PREEMPTED, res.stderr[-2000:]
    assert time.time() - start < 58
    for rank in (0, 1):
        probe = _probe(tmp_path, rank)
        assert probe['sigterm_after_s'] < 55
        assert probe['argv'] == [
            '-u', os.path.join(ROOT, 'tools', 'train.py'), 'CFG.py',
            '--work-dir=WD', '--launcher=slurm', '--resume-or-start',
            '--cfg-options', 'a=1']


def test_explicit_resume_replaces_resume_or_start(slurm, tmp_path):
    res = subprocess.run(
        ['bash', 'tools/slurm_train.sh', 'debug', 'probe', 'CFG.py', 'WD',
         '--resume', 'WD/iter_4.pth'], cwd=ROOT, capture_output=True,
        text=True, timeout=60, env=_slurm_env(
            slurm, PYTHON=_fake_python(tmp_path),
            PROBE_DIR=str(tmp_path), GPUS='1', GPUS_PER_NODE='0',
            CPUS_PER_TASK='1', PROBE_EXIT='0'))
    assert res.returncode == 0, res.stderr[-2000:]
    assert _probe(tmp_path, 0)['argv'][-4:] == [
        '--work-dir=WD', '--launcher=slurm', '--resume', 'WD/iter_4.pth']


def _requeued_batch_job(slurm: str, tmp_path, sbatch_args: list,
                        seconds: float, **env_vars: str) -> str:
    """Submit a batch job running tools/slurm_train.sh with the stand-in
    python and REQUEUE=1; wait up to ``seconds`` for it to be requeued
    (then cancel it); its ``scontrol show job`` text."""
    batch = tmp_path / 'job.sh'
    batch.write_text(f'#!/bin/bash\ncd {ROOT}\nexec bash tools/slurm_train.sh '
                     'debug probe CFG.py WD\n')
    sub = subprocess.run(
        ['sbatch', '--parsable', '--requeue', '-o', str(tmp_path / 'out'),
         *sbatch_args, str(batch)], capture_output=True, text=True,
        timeout=60, env=_slurm_env(
            slurm, PYTHON=_fake_python(tmp_path), PROBE_DIR=str(tmp_path),
            GPUS_PER_NODE='0', CPUS_PER_TASK='1', REQUEUE='1', **env_vars))
    assert sub.returncode == 0, sub.stderr
    job = sub.stdout.strip().split(';')[0]
    info = ''
    deadline = time.time() + seconds
    try:
        while time.time() < deadline:
            info = subprocess.run(['scontrol', 'show', 'job', job],
                                  capture_output=True, text=True,
                                  env=_slurm_env(slurm)).stdout
            if 'Restarts=1' in info and 'JobState=PENDING' in info:
                break
            time.sleep(0.1)
    finally:
        subprocess.run(['scancel', job], env=_slurm_env(slurm))
    return info


def test_preempted_batch_job_is_requeued(slurm, tmp_path):
    """In an `sbatch --requeue` job with REQUEUE=1, ranks that stopped with
    status 75 put the job back in the queue (Slurm holds a requeued job
    for about two minutes before it starts again: not waited for here)."""
    info = _requeued_batch_job(slurm, tmp_path, [], 30, GPUS='1',
                               PROBE_EXIT=str(PREEMPTED))
    assert 'Restarts=1' in info and 'JobState=PENDING' in info, info
    assert _probe(tmp_path, 0)['argv'][-1] == '--resume-or-start'


@pytest.mark.slow  # ~30 s: slurmctld checks the signal times every 30 s
def test_batch_job_signal_ahead_stops_the_ranks_and_requeues(slurm,
                                                             tmp_path):
    """The batch form, `sbatch --requeue --signal=TERM@50` with a 1-minute
    limit (srun's own --signal does not apply inside sbatch): both ranks
    get SIGTERM well before the limit, stop with 75, and the script
    requeues the job before the limit would end it."""
    info = _requeued_batch_job(slurm, tmp_path,
                               ['--time=1', '--signal=TERM@50', '-n', '2'],
                               58, GPUS='2')
    assert 'Restarts=1' in info and 'JobState=PENDING' in info, info
    for rank in (0, 1):
        assert _probe(tmp_path, rank)['sigterm_after_s'] < 55


@pytest.mark.slow
def test_slurm_two_ranks_match_one_process(slurm, tmp_path):
    """2 CPU tasks x 2 images through srun, mmengine's slurm launcher and
    gloo == 1 process x 4 images (as test_ddp.py does with torchrun)."""
    one, two = train_one_process(tmp_path), tmp_path / 'two'
    res = subprocess.run(
        ['bash', 'tools/slurm_train.sh', 'debug', 'ddp',
         write_config(tmp_path, 2), str(two), '--cfg-options', *OPTS],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=_slurm_env(
            slurm, env(), PYTHON=PYTHON, GPUS='2', GPUS_PER_NODE='0',
            CPUS_PER_TASK='1', MASTER_PORT=str(free_port())))
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'Distributed launcher: slurm, world size: 2' in res.stdout
    assert_ranks_match_one_process(one, two)
