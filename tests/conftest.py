"""Shared fixtures: deterministic seeds, the repo root, small model configs."""
import os
import os.path as osp
import shutil
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# shims and every registration a test may build from a dict; configs get
# theirs from custom_imports (tests/foundation/test_layering.py)
import semaim_mm  # noqa: E402,F401
import semaim_mm.datasets  # noqa: E402,F401
import semaim_mm.engine  # noqa: E402,F401
import semaim_mm.evaluation  # noqa: E402,F401
from mmengine.logging import MMLogger  # noqa: E402

# init_weights() logs every parameter at INFO; keep test output readable.
MMLogger.get_instance('mmengine', log_level='WARNING')


@pytest.fixture(autouse=True)
def _seed_and_scope():
    """Seeded, and in mmpretrain's registry scope: a test that builds an
    mmdet/mmseg runner leaves its scope as the process-wide default, which
    would otherwise leak into the next test's ``MODELS.build``."""
    from mmengine.registry import DefaultScope
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


@pytest.fixture
def repo_root() -> str:
    return ROOT


@pytest.fixture
def source_copy(tmp_path) -> str:
    """A copy of what ``setup.py`` builds from, in ``tmp_path/src``:
    setuptools writes build/ and *.egg-info beside setup.py, so packaging
    tests build from the copy, never from the checkout."""
    src = tmp_path / 'src'
    src.mkdir()
    for name in ('setup.py', 'README.md', 'model-index.yml'):
        shutil.copy(osp.join(ROOT, name), src)
    for name in ('semaim_mm', 'configs', 'requirements'):
        shutil.copytree(osp.join(ROOT, name), src / name,
                        ignore=shutil.ignore_patterns('__pycache__'))
    return str(src)


@pytest.fixture
def python_env() -> dict:
    """Environment for subprocesses running the repo's tools."""
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env.setdefault('OMP_NUM_THREADS', '1')
    return env


@pytest.fixture(scope='session')
def labelme_examples() -> dict:
    """labelme 6.3.1's real example datasets (fetched with pip once, cached
    in ~/.cache/semaim_mm): {'coco': folder, 'voc': folder}."""
    from semaim_mm.datasets.labelme_examples import fetch_labelme_examples
    return fetch_labelme_examples()


# Checkpoints written by the authors' SemAIM code (its README says how);
# beside the repository, as in CI.
SEMAIM_REFERENCE = osp.join(osp.dirname(ROOT), 'shared', 'fixtures',
                            'semaim_reference')


@pytest.fixture(scope='session')
def semaim_reference() -> str:
    """The folder of the authors' checkpoints, ``forward.pt`` and
    ``expected.json``."""
    if not osp.isfile(osp.join(SEMAIM_REFERENCE, 'expected.json')):
        pytest.fail(f'{SEMAIM_REFERENCE} is missing: the tests of the '
                    "authors' checkpoints need ../shared/fixtures/"
                    'semaim_reference beside the repository')
    return SEMAIM_REFERENCE
