"""gpu_check.sh --dry-run records every step and writes its summary even
when a step fails. A PYTHON wrapper makes tools/benchmark.py fail, lets
gpu_report.py run for real and stands in for every other step (the steps
themselves run in the full dry-run, minutes on a CPU)."""
import os
import os.path as osp
import stat
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
WRAPPER = f'''#!/usr/bin/env bash
case "$*" in
  *gpu_report.py*) exec {sys.executable} "$@" ;;
  *benchmark.py*) echo "benchmark: made to fail" >&2; exit 1 ;;
  *gpu_probes.py\\ sdpa*) exit 77 ;;
  *) exit 0 ;;
esac
'''


def test_dry_run_summary_survives_a_failed_step(tmp_path):
    python = tmp_path / 'python'
    python.write_text(WRAPPER)
    os.chmod(python, stat.S_IRWXU)
    out = tmp_path / 'out'
    res = subprocess.run(
        ['bash', 'tools/analysis_tools/gpu_check.sh', '--device', 'cpu',
         '--dry-run', '--out', str(out)], cwd=ROOT,
        env=dict(os.environ, PYTHON=str(python)), capture_output=True,
        text=True, timeout=120)
    assert res.returncode == 1, res.stdout + res.stderr
    rows = [line.split('\t') for line in
            (out / 'steps.tsv').read_text().splitlines()[1:]]
    status = {r[0]: r[1] for r in rows}
    assert status == {
        'vitb224': 'failed', 'vitb224_ckpt': 'failed',
        'vitb224_compile': 'skipped', 'vitb448': 'skipped',
        'sdpa': 'skipped', 'precision': 'ok', 'train_tiny': 'ok',
        'train_vitb': 'ok', 'resume_vitb': 'ok', 'knn': 'ok',
        'reproduce_gpu': 'ok'}
    assert 'made to fail' in (out / 'logs' / 'vitb224.log').read_text()
    summary = (out / 'summary.md').read_text()
    assert '| vitb224 | failed |' in summary
    assert '| knn | ok |' in summary and '| sdpa | skipped |' in summary
