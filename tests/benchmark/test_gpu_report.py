"""tools/analysis_tools/gpu_report.py: the summary gpu_check.sh writes for
docs/benchmarks.md, with the GPU goals marked met or missed."""
import json
import subprocess
import sys

GIB = 2**30


def _run(device, fast_ms, ref_ms, mae_ms, mfu, batch=128, size=224,
         mem=4 * GIB):
    def row(path, ms):
        return dict(path=path, ms_per_step=ms, images_per_s=batch / ms * 1e3,
                    mfu=mfu if path == 'fast' else None,
                    peak_memory_bytes=mem)
    return dict(
        device=device, device_name='NVIDIA H200', img_size=size, batch=batch,
        amp=True, compile=False, grad_checkpointing=False,
        results=dict(fast=row('fast', fast_ms),
                     reference=row('reference', ref_ms),
                     mae=row('mae', mae_ms)),
        ratios=dict(fast_vs_reference_images_per_s=ref_ms / fast_ms,
                    fast_over_mae_step_time=fast_ms / mae_ms))


def _report(tmp_path, runs, train=None):
    for name, run in runs.items():
        (tmp_path / f'{name}.json').write_text(json.dumps(run))
    if train:
        (tmp_path / 'train.json').write_text(json.dumps(train))
    return subprocess.run(
        [sys.executable, 'tools/analysis_tools/gpu_report.py',
         str(tmp_path)], capture_output=True, text=True, check=True).stdout


def test_goals_met_and_missed(tmp_path):
    out = _report(tmp_path, dict(
        vitb224=_run('cuda', 100., 250., 80., 0.45),
        vitb448=_run('cuda', 100., 250., 80., 0.45, batch=32, size=448,
                     mem=4 * GIB)), train=dict(iters=300, wall_s=41))
    assert '| fast | 100.0 | 1280.0 | 45.0% | 4096 |' in out
    assert 'fast / reference images/s: 2.50 (goal ≥ 2.0) — met' in out
    assert 'fast-path MFU: 0.45 (goal ≥ 0.4) — met' in out
    assert 'SemAIM step / MAE step: 1.25 (goal ≤ 1.6) — met' in out
    assert 'memory per image 448 / 224 px: 4.00' in out
    assert '300 iterations in 41 s' in out
    out = _report(tmp_path, dict(vitb224=_run('cuda', 200., 250., 80., .2)))
    assert 'fast / reference images/s: 1.25 (goal ≥ 2.0) — missed' in out
    assert 'SemAIM step / MAE step: 2.50 (goal ≤ 1.6) — missed' in out


def test_cpu_run_is_not_assessed(tmp_path):
    out = _report(tmp_path, dict(vitb224=_run('cpu', 100., 120., 80., .5)))
    assert 'GPU goals: not assessed' in out
