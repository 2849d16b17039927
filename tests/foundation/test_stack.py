"""The pinned OpenMMLab stack imports together and its compiled ops run."""
import importlib

import pytest
import torch


@pytest.mark.parametrize('name,version', [
    ('mmengine', '0.10.7'), ('mmcv', '2.1.0'), ('mmpretrain', '1.2.0'),
    ('mmdet', '3.3.0'), ('mmseg', '1.2.2')])
def test_pinned_versions_import(name, version):
    assert importlib.import_module(name).__version__ == version


def test_timm_and_numpy():
    import numpy
    import timm
    assert timm.__version__ >= '1.0'
    major, minor = (int(v) for v in numpy.__version__.split('.')[:2])
    assert (major, minor) < (2, 4)


def test_mmcv_ops_run_on_cpu():
    from mmcv.ops import nms, roi_align
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.],
                          [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    feat = torch.arange(16.).reshape(1, 1, 4, 4)
    rois = torch.tensor([[0., 0., 0., 4., 4.]])
    out = roi_align(feat, rois, (2, 2), 1.0, 2, 'avg', True)
    assert out.shape == (1, 1, 2, 2)
    # Mean of each 2x2 quadrant of the 4x4 ramp.
    torch.testing.assert_close(out.flatten(),
                               torch.tensor([2.5, 4.5, 10.5, 12.5]))


def test_pretraining_works_without_mmdet_and_mmseg():
    """The GPU machines carry no mmdet/mmseg (and mmcv without ops):
    ``import semaim_mm`` and a pre-training step must not need them."""
    import subprocess
    import sys
    code = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('mmdet', 'mmseg') or name == 'mmcv.ops':
            raise ImportError('blocked for the test: ' + name)
sys.meta_path.insert(0, Block())
import torch, semaim_mm
from mmpretrain.registry import MODELS
m = MODELS.build(dict(type='SemAIM',
    backbone=dict(type='SemAIMViT', arch='tiny', img_size=32, patch_size=8),
    neck=dict(type='SemAIMDecoder', num_heads=3, depth=2),
    head=dict(type='SemAIMHead', embed_dims=192)))
m.loss(torch.randn(2, 3, 32, 32))['loss'].backward()
assert not [k for k in sys.modules if k.split('.')[0] in ('mmdet', 'mmseg')]
"""
    subprocess.run([sys.executable, '-c', code], check=True)
