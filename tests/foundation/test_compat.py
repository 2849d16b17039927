"""Each version shim in semaim_mm.compat does what it says."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub

from semaim_mm import compat


def test_apply_is_idempotent():
    first = compat.apply()
    assert compat.apply() == first
    # The CPU-DDP shim moved to the tools' launch path (issue 17).
    assert set(first) == {'numpy_aliases', 'torch_load_allowlist'}


def test_numpy_aliases_used_by_mmdet_and_mmcv():
    assert np.float is float and np.int is int and np.object is object
    assert np.dtype(np.bool) == np.dtype(bool)
    assert np.in1d([1, 2], [2]).tolist() == [False, True]
    assert callable(np.trapz)


def mmengine_checkpoint(path):
    hub = MessageHub.get_instance('compat_test')
    hub.update_scalar('train/loss', 0.5)
    hub.update_info('iter', 7)
    torch.save(dict(meta=dict(seed=np.int64(3), epoch=1,
                              lr=np.float64(0.1), arr=np.arange(3)),
                    state_dict={'w': torch.ones(2, 1)},
                    message_hub=hub.state_dict()), path)


def test_weights_only_load_of_mmengine_checkpoint(tmp_path):
    path = tmp_path / 'ckpt.pth'
    mmengine_checkpoint(path)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt['meta']['seed'] == 3
    from mmengine.runner import load_checkpoint
    model = torch.nn.Linear(1, 2, bias=False)
    model.weight.data.zero_()
    load_checkpoint(model, str(path), revise_keys=[(r'^w$', 'weight')])
    assert model.weight.data.flatten().tolist() == [1.0, 1.0]


def test_allow_list_still_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ('pwned',))

    path = tmp_path / 'evil.pth'
    torch.save({'x': Evil()}, path)
    with pytest.raises(Exception, match='Weights only load failed'):
        torch.load(path, weights_only=True)


def test_getattr_limited_to_history_buffer():
    import pickle
    from mmengine.logging import HistoryBuffer
    assert compat._history_buffer_getattr(HistoryBuffer, 'mean') is \
        HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError, match='allow-list'):
        compat._history_buffer_getattr(HistoryBuffer, '__init__')
    with pytest.raises(pickle.UnpicklingError):
        compat._history_buffer_getattr(object, 'mro')


def test_import_patches_neither_dist_nor_save():
    code = ('import semaim_mm; from mmengine.dist import utils; '
            'from mmengine.runner import checkpoint as c; '
            "print(getattr(utils._init_dist_pytorch, '_semaim_cpu_patch', 0),"
            " getattr(c.save_checkpoint, '_semaim_atomic', 0))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, timeout=300)
    assert out.stdout.split() == ['0', '0'], out.stderr[-2000:]


def test_cpu_dist_patch_installed_by_the_launch_path():
    from mmengine.config import Config
    from mmengine.dist import utils

    from semaim_mm.engine import build_runner
    original = utils._init_dist_pytorch
    try:
        with pytest.raises(Exception):  # no model: only the set-up matters
            build_runner(Config(dict(launcher='pytorch', runner_type='X')))
        assert getattr(utils._init_dist_pytorch, '_semaim_cpu_patch', False)
        assert compat.patch_mmengine_cpu_dist()  # idempotent
    finally:
        utils._init_dist_pytorch = original
