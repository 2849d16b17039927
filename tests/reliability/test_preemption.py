"""SIGTERM / SIGUSR1 save the current iteration and exit with status 75;
the resumed run ends with the uninterrupted run's weights."""
import os
import signal
import subprocess

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.logging import MessageHub

from semaim_mm.engine import PREEMPTED_EXIT, PreemptionHook

from ._real import CONFIG, PYTHON, ROOT, SMALL, env
from .toy import make_runner


@pytest.fixture(autouse=True)
def _fresh_hub():
    yield
    MessageHub._instance_dict.clear()


class SignalAt(Hook):
    """Sends this process ``signum`` while iteration ``at`` runs."""

    def __init__(self, at: int, signum: int) -> None:
        self.at, self.signum = at, signum

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.at:
            os.kill(os.getpid(), self.signum)


def weights(path):
    return torch.load(path, map_location='cpu')['state_dict']


@pytest.mark.parametrize('mode,signum', [('iter', signal.SIGTERM),
                                         ('epoch', signal.SIGUSR1)])
def test_signal_saves_the_iteration_and_resume_is_exact(tmp_path, mode,
                                                        signum):
    # 7 iterations per epoch, a checkpoint every 3 (iter) or per epoch; the
    # signal comes during iteration 11 (0-based 10): iter_11.pth is saved
    # although neither schedule would save it.
    kw = dict(iters=17) if mode == 'iter' else dict(epochs=3,
                                                    by_epoch_ckpt=True,
                                                    ckpt_interval=1)
    ref = {}
    make_runner(tmp_path / 'ref', ref, **kw).train()
    before = {}
    runner = make_runner(tmp_path / 'run', before,
                         extra_hooks=[PreemptionHook(),
                                      SignalAt(10, signum)], **kw)
    with pytest.raises(SystemExit) as stop:
        runner.train()
    assert stop.value.code == PREEMPTED_EXIT == 75
    assert max(before) == 10
    assert (tmp_path / 'run' / 'last_checkpoint').read_text() == 'iter_11.pth'
    assert signal.getsignal(signum) is signal.SIG_DFL  # restored
    MessageHub._instance_dict.clear()
    after = {}
    make_runner(tmp_path / 'run', after, resume=True, **kw).train()
    assert min(after) == 11
    for it, loss in after.items():
        assert loss == pytest.approx(ref[it], abs=1e-6), it
    last = 'iter_15.pth' if mode == 'iter' else 'epoch_3.pth'
    a, b = weights(tmp_path / 'ref' / last), weights(tmp_path / 'run' / last)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_handlers_are_restored_after_training(tmp_path):
    old = signal.getsignal(signal.SIGTERM)
    make_runner(tmp_path / 'w', {}, iters=2,
                extra_hooks=[PreemptionHook()]).train()
    assert signal.getsignal(signal.SIGTERM) is old


def test_handlers_are_restored_when_training_fails(tmp_path):
    from semaim_mm.engine import SemAIMRunner
    old = signal.getsignal(signal.SIGTERM)

    class Fail(Hook):
        def before_train_iter(self, runner, batch_idx, data_batch=None):
            raise RuntimeError('boom')

    runner = make_runner(tmp_path / 'w', {}, iters=2, extra_hooks=[Fail()],
                         runner_cls=SemAIMRunner)
    with pytest.raises(RuntimeError, match='boom'):
        runner.train()
    assert signal.getsignal(signal.SIGTERM) is old


def test_unknown_signal_name():
    with pytest.raises(ValueError, match='SIGTREM'):
        PreemptionHook(signals=['SIGTREM'])


ITERS = 12
OPTS = SMALL + ['train_dataloader.batch_size=4',
                f'train_cfg.max_iters={ITERS}',
                'default_hooks.checkpoint.interval=5']


def train(work_dir, *extra):
    return [PYTHON, 'tools/train.py', CONFIG, '--work-dir', str(work_dir),
            *extra, '--cfg-options', *OPTS]


@pytest.mark.slow
def test_sigterm_real_run_then_resume_or_start_matches(tmp_path):
    """tools/train.py, workers 0: SIGTERM at iteration 3, exit 75 with one
    line, ``--resume-or-start`` ends with the uninterrupted weights
    (35 s measured on the shared 2-core host: three runs)."""
    ref, run = tmp_path / 'ref', tmp_path / 'run'
    subprocess.run(train(ref), cwd=ROOT, env=env(), check=True,
                   capture_output=True, timeout=600)
    proc = subprocess.Popen(train(run), cwd=ROOT, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    log = []
    for line in proc.stdout:
        log.append(line)
        if 'Iter(train) [ 3/' in line:
            proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=600) == PREEMPTED_EXIT, ''.join(log[-20:])
    said = [x for x in log if 'SIGTERM: saved iteration' in x]
    assert len(said) == 1 and 'exiting with status 75' in said[0]
    step = int(said[0].split('saved iteration ')[1].split()[0])
    assert 3 <= step < ITERS and (run / f'iter_{step}.pth').exists()
    assert not list(run.glob('.*.tmp-*'))
    res = subprocess.run(train(run, '--resume-or-start'), cwd=ROOT,
                         env=env(), capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f'resuming at iteration {step}' in res.stdout + res.stderr
    a = weights(ref / f'iter_{ITERS}.pth')
    b = weights(run / f'iter_{ITERS}.pth')
    assert all(torch.equal(a[k], b[k]) for k in a)
