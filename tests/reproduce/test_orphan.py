"""`kill` (TERM or KILL) of the process running a matrix takes its worker
with it. While the worker lives it holds the matrix lock, so a rerun
refuses instead of emptying the live stage's folder; after the kill the
lock is free and the interrupted stage is to run again.

The matrix's parent process is a fork of this test process running
:func:`semaim_mm.reproduce.matrix.execute` (what tools/reproduce.py runs
after its pre-flight), so only the worker pays for a Python start-up.
"""
import os
import os.path as osp
import signal
import sys
import time

import pytest

from semaim_mm.reproduce import build_plan, load_spec, select
from semaim_mm.reproduce.matrix import execute, matrix_lock
from semaim_mm.reproduce.spec import SpecError
from semaim_mm.reproduce.store import Results

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
QUICK = osp.join(ROOT, 'configs', 'reproduce', 'demo_quick.py')

pytestmark = pytest.mark.skipif(not sys.platform.startswith('linux'),
                                reason='reads /proc; PR_SET_PDEATHSIG')


def _alive(pid: int) -> bool:
    """Running (a zombie nobody reaps, as under a container's pid 1, is
    gone)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


def _wait(predicate, seconds: float) -> bool:
    deadline = time.time() + seconds
    while not predicate() and time.time() < deadline:
        time.sleep(0.05)
    return predicate()


def _start_matrix(plan, stages, log: str) -> int:
    """Fork a parent that runs the stages (output to ``log``); its pid."""
    pid = os.fork()
    if pid:
        return pid
    try:  # the child: a plain process, as tools/reproduce.py would be
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os._exit(execute(plan, stages, 'test_orphan'))
    finally:
        os._exit(99)


def _worker_in_first_stage(parent: int, log: str) -> int:
    """Wait for the worker to start the first stage; freeze it there (a
    stopped process still gets the kernel's SIGKILL) and return its pid."""
    def started():
        return osp.isfile(log) and '[1/2] ' in open(log).read()
    assert _wait(started, 300), open(log).read()[-3000:]
    with open(f'/proc/{parent}/task/{parent}/children') as f:
        (worker,) = map(int, f.read().split())
    os.kill(worker, signal.SIGSTOP)
    return worker


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGKILL])
def test_killed_parent_takes_its_worker_and_frees_the_matrix(tmp_path, sig):
    wd = str(tmp_path / 'matrix')
    plan = build_plan(load_spec(QUICK, wd))
    stages = select(plan, ['pixels', 'scratch'], ['knn'], [0])
    log = str(tmp_path / 'log')
    parent = _start_matrix(plan, stages, log)
    worker = 0
    try:
        worker = _worker_in_first_stage(parent, log)
        lock = osp.join(wd, '.lock')
        assert lock in {os.readlink(f'/proc/{worker}/fd/{fd}')
                        for fd in os.listdir(f'/proc/{worker}/fd')}
        live = osp.join(plan.stage_dir(stages[0].hash), 'work')
        assert osp.isdir(live)
        with pytest.raises(SpecError, match='another tools/reproduce.py run'):
            with matrix_lock(wd):
                pass  # a rerun stops here, before any stage folder
        assert osp.isdir(live)

        os.kill(parent, sig)
        assert os.waitpid(parent, 0)[1] & 0x7f == sig
        assert _wait(lambda: not _alive(worker), 5), \
            'the worker outlived its parent'
    finally:
        for pid in (parent, worker):
            if pid and _alive(pid):
                os.kill(pid, signal.SIGKILL)
    with matrix_lock(wd):  # free: a rerun goes ahead
        pass
    results = Results(plan)
    assert results.to_run(stages) == stages  # the worker did not go on
