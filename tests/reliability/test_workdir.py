"""A work dir a user can trust: the lock, resume inside the work dir, the
start-of-run checks, a short log, TensorBoard and the rescaled schedule
(tools/train.py in a subprocess, a few iterations of a small model)."""
import glob
import json
import os
import os.path as osp
import shutil
import socket
import subprocess
import time

import pytest
import torch

from semaim_mm.engine import WorkDirLock
from semaim_mm.engine.schedule import rescale

from ._real import CONFIG, PYTHON, ROOT, SMALL, env

TINY = SMALL + ['train_dataloader.batch_size=4',
                'default_hooks.checkpoint.interval=2']


def train(work_dir, *extra, iters=4, opts=TINY):
    cmd = [PYTHON, 'tools/train.py', CONFIG, '--work-dir', str(work_dir),
           *extra, '--cfg-options', *opts, f'train_cfg.max_iters={iters}']
    return subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True,
                          text=True, timeout=600)


def ok(res) -> str:
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res.stdout + res.stderr


def error_line(res) -> str:
    """The one 'error: ...' line of a refused run (no traceback)."""
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-3000:]
    assert 'Traceback' not in res.stdout + res.stderr
    lines = [x for x in res.stderr.splitlines() if x.startswith('error: ')]
    assert len(lines) == 1, res.stderr[-3000:]
    return lines[0]


def snapshot(folder):
    return {p: (os.stat(p).st_size, os.stat(p).st_mtime_ns)
            for p in glob.glob(osp.join(folder, '**'), recursive=True)}


def test_second_run_into_locked_work_dir_is_refused(tmp_path):
    wd = tmp_path / 'wd'
    lock = WorkDirLock(str(wd))
    assert lock.acquire() is None
    try:
        line = error_line(train(wd, iters=2))
    finally:
        lock.release()
    assert 'is in use by another run' in line
    assert f'pid {os.getpid()}' in line and socket.gethostname() in line
    assert not glob.glob(str(wd / '*.pth'))
    assert not (wd / '.run.lock').exists()  # released


def test_stale_lock_is_taken_over(tmp_path):
    wd = tmp_path / 'wd'
    wd.mkdir()
    gone = subprocess.Popen([PYTHON, '-c', 'pass'])
    gone.wait()
    (wd / '.run.lock').write_text(json.dumps(dict(
        host=socket.gethostname(), pid=gone.pid, started=time.time() - 60,
        command='tools/train.py killed')))
    log = ok(train(wd, iters=2))
    assert 'Took over the stale lock' in log and f'pid {gone.pid}' in log
    assert (wd / 'iter_2.pth').exists() and not (wd / '.run.lock').exists()


@pytest.mark.slow  # two training runs: about 25 s on the slow host
def test_copied_work_dir_resumes_from_its_own_checkpoints(tmp_path):
    a, b = tmp_path / 'a', tmp_path / 'b'
    ok(train(a, iters=4))
    assert (a / 'last_checkpoint').read_text() == 'iter_4.pth'  # relative
    shutil.copytree(a, b)
    data = (b / 'iter_4.pth').read_bytes()  # the copy was cut short
    (b / 'iter_4.pth').write_bytes(data[:len(data) // 2])
    before = snapshot(str(a))
    log = ok(train(b, '--resume', iters=6))
    assert f'Skipping checkpoint {b}/iter_4.pth' in log
    assert f'Load checkpoint from {b}/iter_2.pth' in log
    assert 'Advance dataloader' not in log  # ExactResumeHook skips it
    assert snapshot(str(a)) == before  # the original is untouched
    assert (b / 'iter_6.pth').exists() and not (a / 'iter_6.pth').exists()
    for step in (4, 6):  # both complete, the truncated copy replaced
        torch.load(b / f'iter_{step}.pth', weights_only=True)

    # A legacy marker naming the original (absolute) is not followed.
    c = tmp_path / 'c'
    c.mkdir()
    (c / 'last_checkpoint').write_text(str(a / 'iter_4.pth'))
    line = error_line(train(c, '--resume', iters=6))
    assert 'outside the work dir' in line
    assert f'--resume {a}/iter_4.pth' in line


@pytest.mark.slow  # three tool runs: about 24 s on the slow host
def test_resume_with_nothing_to_resume(tmp_path):
    typo = tmp_path / 'typo'
    line = error_line(train(typo, '--resume', iters=2))
    assert f'no complete checkpoint to resume in {typo}' in line
    assert '--resume-or-start' in line and not typo.exists()
    log = ok(train(typo, '--resume-or-start', iters=2))
    assert 'starting from scratch' in log and (typo / 'iter_2.pth').exists()
    log = ok(train(typo, '--resume-or-start', iters=4))
    assert f'Load checkpoint from {typo}/iter_2.pth' in log


def test_image_size_mismatch_fails(tmp_path):
    line = error_line(train(tmp_path / 'wd', iters=2,
                            opts=TINY + ['model.backbone.img_size=24']))
    assert '28x28 images' in line and '(24, 24)' in line
    assert 'model.backbone.img_size=28' in line


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a CPU machine')
def test_amp_on_cpu_is_one_clear_line(tmp_path):
    res = train(tmp_path / 'wd', '--amp', iters=2)
    line = error_line(res)
    assert 'needs a GPU' in line and '--fp32' in line
    assert res.stderr.strip() == line
    assert not (tmp_path / 'wd').exists()


def test_twenty_iterations_print_a_short_log(tmp_path):
    opts = [o for o in TINY if not o.startswith('default_hooks.logger')]
    res = train(tmp_path / 'wd', iters=20, opts=opts)
    log = ok(res)
    lines = log.splitlines()
    assert len(lines) <= 120, len(lines)
    assert 'paramwise_options' not in log and 'Optimizer AdamW' in log
    # at least every 10% of the run (the config logs every 20 iterations)
    assert sum('Iter(train)' in x for x in lines) >= 10
    assert 'sim_peak (logged every step) = N * max S' in log
    # max_iters=20 rescaled the 940-iteration schedule: warm-up 94 -> 2,
    # cosine over the rest, ending near eta_min.
    assert ('LinearLR end 94->2; CosineAnnealingLR begin 94->2 end 940->20 '
            'T_max 846->18') in log
    scalars = glob.glob(str(tmp_path / 'wd/*/vis_data/scalars.json'))
    lrs = [json.loads(x)['lr'] for x in open(scalars[0])]
    assert max(lrs) == pytest.approx(3e-3) and lrs[-1] < 2e-4


def test_debug_log_level_keeps_the_full_dump(tmp_path):
    log = ok(train(tmp_path / 'wd', '--log-level', 'DEBUG', iters=1))
    assert 'paramwise_options' in log and 'System environment:' in log


@pytest.mark.parametrize('how', [
    ['--tensorboard'],
    ['--cfg-options',
     'visualizer.vis_backends=[LocalVisBackend,TensorboardVisBackend]'],
])
def test_tensorboard_event_files(tmp_path, how):
    wd = tmp_path / 'wd'
    extra, opts = (how, TINY) if how[0] == '--tensorboard' else (
        [], TINY + how[1:])
    ok(train(wd, *extra, iters=2, opts=opts))
    events = glob.glob(str(wd / '*/vis_data/events.out.tfevents.*'))
    assert events and os.path.getsize(events[0]) > 0
    assert glob.glob(str(wd / '*/vis_data/scalars.json'))


def test_rescale_epoch_schedule_and_sentinels():
    sched = [dict(type='LinearLR', by_epoch=True, begin=0, end=40,
                  convert_to_iter_based=True),
             dict(type='CosineAnnealingLR', by_epoch=True, begin=40,
                  end=800, T_max=760),
             dict(type='MultiStepLR', by_epoch=True, milestones=[400, 600]),
             dict(type='ConstantLR', by_epoch=False, begin=0, end=500),
             dict(type='PolyLR', by_epoch=True, begin=0, end=10**9)]
    changes = rescale(sched, True, 800, 8)
    # converted to iterations by mmengine: fractions of an epoch are exact
    assert sched[0]['end'] == pytest.approx(0.4)
    # whole epochs: a positive milestone stays >= 1, T_max spans begin..end
    assert (sched[1]['begin'], sched[1]['end'], sched[1]['T_max']) == \
        (1, 8, 7)
    assert sched[2]['milestones'] == [4, 6]
    assert sched[3]['end'] == 500  # counted in iterations: unchanged
    assert sched[4]['end'] == 10**9  # past the end: a sentinel
    assert len(changes) == 3
