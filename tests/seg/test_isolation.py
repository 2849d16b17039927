"""`import semaim_mm` (and the mosaic generator) must not pull mmseg.

(mmdet is not checked here: mmpretrain.models itself imports mmdet when it
is installed, independently of this project.)
"""
import subprocess
import sys


def test_core_import_does_not_import_mmseg(python_env):
    code = ('import sys, semaim_mm, semaim_mm.datasets.mosaic; '
            'bad = [m for m in ("mmseg", "semaim_mm.seg") '
            'if m in sys.modules]; assert not bad, bad')
    subprocess.run([sys.executable, '-c', code], env=python_env, check=True,
                   timeout=300)
