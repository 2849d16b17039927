"""A non-editable install runs the reproduction matrix by itself: the
package is installed into a temporary folder (the environment's installed
dependencies reused) and, from a folder outside the repository, runs one
tiny fine-tuning stage of the shipped ``configs/reproduce/demo_quick.py``
(``semaim_mm/.mim``) through :mod:`semaim_mm.reproduce.cli`, the code
behind ``tools/reproduce.py``."""
import glob
import json
import os
import subprocess
import sys

import pytest

RUN = '''
import sys
import semaim_mm
site = sys.argv[1]
assert semaim_mm.__file__.startswith(site + '/'), semaim_mm.__file__
from semaim_mm.reproduce.cli import main
sys.exit(main([site + '/semaim_mm/.mim/configs/reproduce/demo_quick.py',
               '--work-dir', sys.argv[2], '--only', 'scratch',
               '--columns', 'ft_10pct', '--seeds', '0', '--no-curve']))
'''


@pytest.mark.slow  # install + one fine-tuning stage: about 65 s, 2 cores
def test_installed_package_runs_a_matrix_stage(source_copy, tmp_path):
    site = tmp_path / 'site'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps',
                    '--no-build-isolation', '-q', '--target', str(site),
                    source_copy], check=True, capture_output=True)
    assert not (site / 'tools').exists()
    outside = tmp_path / 'elsewhere'
    outside.mkdir()
    work_dir = outside / 'matrix'
    # the installed copy ahead of the editable checkout, which must not be
    # importable from here
    env = dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS='1')
    res = subprocess.run(
        [sys.executable, '-c', RUN, str(site), str(work_dir)], cwd=outside,
        env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    results = glob.glob(str(work_dir / 'stages' / '*' / 'result.json'))
    assert len(results) == 1, res.stdout[-2000:]
    with open(results[0]) as f:
        result = json.load(f)
    assert result['kind'] == 'train' and result['label'].startswith(
        'ft_10pct scratch')
    assert result['config'].startswith(str(work_dir))
    assert 0 <= result['metrics']['accuracy/top1'] <= 100
    assert (work_dir / 'report.md').is_file()
