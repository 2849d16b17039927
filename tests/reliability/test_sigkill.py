"""SIGKILL a real pre-training run mid-epoch and resume it (subprocess)."""
import os
import signal
import subprocess
import time

import pytest
import torch

from ._real import CONFIG, PYTHON, ROOT, SMALL, env, losses

ITERS = 10
OPTS = SMALL + [
    'train_dataloader.batch_size=4', f'train_cfg.max_iters={ITERS}',
    'default_hooks.checkpoint.interval=3',
    'default_hooks.checkpoint.max_keep_ckpts=2',
]


def train(work_dir, *extra):
    return [PYTHON, 'tools/train.py', CONFIG, '--work-dir', str(work_dir),
            *extra, '--cfg-options', *OPTS]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches(tmp_path):
    ref, run = tmp_path / 'ref', tmp_path / 'run'
    subprocess.run(train(ref), cwd=ROOT, env=env(), check=True,
                   capture_output=True, timeout=600)
    ref_losses = losses(ref)
    assert sorted(ref_losses) == list(range(1, ITERS + 1))

    proc = subprocess.Popen(train(run), cwd=ROOT, env=env(),
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    marker = run / 'last_checkpoint'
    while time.time() < deadline and proc.poll() is None:
        if marker.exists() and marker.read_text().endswith('iter_6.pth'):
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, 'run ended before the kill'
    assert not (run / f'iter_{ITERS}.pth').exists()
    # Worst case on top of the kill: the newest checkpoint is truncated
    # (e.g. copied half-way) and a temporary file is left over.
    newest = run / 'iter_6.pth'
    newest.write_bytes(newest.read_bytes()[:4096])
    (run / '.iter_9.pth.tmp-x').write_bytes(b'\0' * 10)

    res = subprocess.run(train(run, '--resume'), cwd=ROOT, env=env(),
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    log = res.stdout + res.stderr
    assert 'Skipping checkpoint' in log and 'iter_6.pth' in log
    assert 'resuming at iteration 3' in log
    got = losses(run)
    for it in range(4, ITERS + 1):  # resumed from iter_3.pth
        assert got[it] == pytest.approx(ref_losses[it], abs=1e-6), it
    a = torch.load(ref / f'iter_{ITERS}.pth')['state_dict']
    b = torch.load(run / f'iter_{ITERS}.pth')['state_dict']
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    assert not (run / '.iter_9.pth.tmp-x').exists()
