"""Run the to-do stages of a plan in a worker subprocess
(:mod:`semaim_mm.reproduce.worker`), one work-dir lock per matrix."""
import fcntl
import os
import os.path as osp
import platform
import subprocess
import sys
from contextlib import contextmanager
from typing import List, Optional

from .configs import loop_unit
from .hooks import write_json
from .stages import Plan, Stage
from .spec import INSTALLED, ROOT, SpecError
from .store import Results
from .worker import PARENT_ENV


def run_root() -> str:
    """Where stages run and converter-made data go: the checkout (its
    configs name ``data/`` relative to it), or for an installed package the
    current directory."""
    return os.getcwd() if INSTALLED else ROOT


def git_commit() -> str:
    """HEAD of the repository (``+dirty`` with uncommitted changes);
    ``unknown`` for an installed package."""
    if INSTALLED:
        return 'unknown'
    try:
        head = subprocess.run(['git', 'rev-parse', '--short=12', 'HEAD'],
                              cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain',
                                '--untracked-files=no'], cwd=ROOT,
                               capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return 'unknown'
    return (head or 'unknown') + ('+dirty' if dirty else '')


@contextmanager
def matrix_lock(work_dir: str):
    """One run per matrix work dir at a time; yields the locked file's
    descriptor (the worker inherits it, so the lock lives as long as
    either process)."""
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, '.lock')
    with open(path, 'a+') as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            raise SpecError(f'another tools/reproduce.py run is using '
                            f'{work_dir} (pid {f.read().strip() or "?"}); '
                            'wait for it or give another --work-dir')
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield f.fileno()
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _stage_entry(plan: Plan, st: Stage) -> dict:
    d = plan.stage_dir(st.hash)
    os.makedirs(d, exist_ok=True)
    config = osp.join(d, 'config.py')
    st.cfg.experiment_name = st.hash
    st.cfg.dump(config)
    return dict(hash=st.hash, kind=st.kind, label=st.label, row=st.row,
                column=st.column, seed=st.seed, images=st.images,
                group=st.group, depends=st.depends, checkpoint=st.checkpoint,
                config=config, dir=d, unit=None if st.kind == 'knn' else
                loop_unit(st.cfg))


def _worker(plan_file: str, threads: Optional[int], lock_fd: int) -> int:
    """Run the worker on ``plan_file`` and wait for it. It holds the matrix
    lock (``lock_fd``) too and dies with this process (see
    :func:`semaim_mm.reproduce.worker.die_with_parent`)."""
    env = dict(os.environ, **{PARENT_ENV: str(os.getpid())})
    if not INSTALLED:  # the worker imports this checkout's package
        env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env.setdefault('PYTHONWARNINGS', 'ignore:pkg_resources is deprecated')
    # Idle OpenMP threads sleep instead of spinning: on a shared machine
    # spinning inflates the recorded CPU seconds several times over.
    env.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    if threads:
        env['OMP_NUM_THREADS'] = str(threads)
    proc = subprocess.Popen(
        [sys.executable, '-m', 'semaim_mm.reproduce.worker', plan_file],
        cwd=run_root(), env=env, pass_fds=(lock_fd,))
    try:
        return proc.wait()
    except BaseException:
        # Ctrl-C reached the worker too (same process group); anything else
        # (a timeout, a signal to this process only) must not orphan it.
        # SIGKILL: a training stage would take SIGTERM for a preemption and
        # go on to the next stage; an interrupted stage restarts anyway.
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        raise


def execute(plan: Plan, stages: List[Stage], command: str) -> int:
    """Run the stages that have no result yet in one worker process;
    returns its exit status (0: all ran)."""
    results = Results(plan)
    todo = results.to_run(stages)
    skipped = len(stages) - len(todo)
    print(f'{len(todo)} stage(s) to run, {skipped} already done '
          f'(work dir {plan.spec.work_dir})', flush=True)
    if not todo:
        return 0
    with matrix_lock(plan.spec.work_dir) as lock_fd:
        git = git_commit()
        meta = dict(command=command, git=git, spec=plan.spec.path,
                    git_clean=git != 'unknown' and not git.endswith('+dirty'),
                    host=platform.node())
        entries = [_stage_entry(plan, st) for st in todo]
        for i, e in enumerate(entries):
            e.update(index=i + 1, total=len(entries))
        plan_file = osp.join(plan.spec.work_dir, 'plan.json')
        write_json(plan_file, dict(meta=meta, stages=entries))
        return _worker(plan_file, plan.spec.torch_threads, lock_fd)


def describe_failures(plan: Plan, stages: List[Stage]) -> Optional[str]:
    """One line naming the failed stages and where their errors are."""
    results = Results(plan)
    bad = [st for st in stages if results.failed(st.hash)]
    if not bad:
        return None
    return (f'{len(bad)} stage(s) failed, e.g. {bad[0].label}: see '
            f"{osp.join(plan.stage_dir(bad[0].hash), 'error.txt')}; "
            'rerun the same command to retry them')
