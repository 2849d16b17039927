"""Bad input: images, dataset folders, annotation files, checkpoints, config
values. Each must fail (or skip) with a message naming the fix."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from semaim_mm.datasets.checks import (DataCheckError, check_ade20k,
                                       check_coco_annotation,
                                       check_dataset_cfg, check_train_config)
from semaim_mm.datasets.safe_loading import (BadImageError,
                                             SafeLoadImageFromFile)
from semaim_mm.engine import (CheckpointCheckError, check_checkpoint_kind,
                              checkpoint_problem)


# ------------------------------------------------------------------ images
def write(path, img):
    assert cv2.imwrite(str(path), img)
    return str(path)


@pytest.fixture
def images(tmp_path):
    rng = np.random.RandomState(0)
    rgb = rng.randint(0, 255, (20, 24, 3), np.uint8)
    good = write(tmp_path / 'good.jpg', rgb)
    data = open(good, 'rb').read()
    files = dict(
        good=good,
        gray=write(tmp_path / 'gray.png', rgb[..., 0]),
        rgba=write(tmp_path / 'rgba.png', np.dstack([rgb, rgb[..., :1]])),
        gray16=write(tmp_path / 'g16.png',
                     (rgb[..., 0].astype(np.uint16) * 257)),
        rgb16=write(tmp_path / 'c16.png', rgb.astype(np.uint16) * 257),
        tiny=write(tmp_path / 'tiny.png', rgb[:3, :2]),
        png8=write(tmp_path / 'rgb8.png', rgb),
    )
    for name, content in dict(
            truncated_jpg=data[:len(data) // 2], empty_jpg=b'',
            garbage_jpg=b'this is not an image' * 10,
            truncated_png=open(files['gray'], 'rb').read()[:60]).items():
        p = tmp_path / name.replace('_', '.')
        p.write_bytes(content)
        files[name] = str(p)
    files['missing'] = str(tmp_path / 'nope.jpg')
    return files


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
@pytest.mark.parametrize('name', ['good', 'gray', 'rgba', 'gray16', 'rgb16',
                                  'tiny'])
def test_image_kinds_become_uint8_rgb(images, name, backend):
    out = SafeLoadImageFromFile(on_error='raise', imdecode_backend=backend)(
        dict(img_path=images[name]))
    img = out['img']
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    if name == 'rgb16':  # 16-bit keeps its content (high byte)
        ref = cv2.imread(images['png8'])
        assert np.abs(img.astype(int) - ref.astype(int)).max() <= 1


@pytest.mark.parametrize('name', ['truncated_jpg', 'empty_jpg',
                                  'garbage_jpg', 'truncated_png', 'missing'])
def test_bad_images_raise_or_skip(images, name, caplog):
    with pytest.raises(BadImageError, match=r'Bad image .*Fix: '):
        SafeLoadImageFromFile(on_error='raise')(dict(img_path=images[name]))
    SafeLoadImageFromFile.skipped = 0
    t = SafeLoadImageFromFile(on_error='skip', max_skips=1)
    assert t(dict(img_path=images[name])) is None
    assert SafeLoadImageFromFile.skipped == 1
    with pytest.raises(BadImageError, match='max_skips=1'):
        t(dict(img_path=images[name]))
    SafeLoadImageFromFile.skipped = 0


def test_dataset_skips_bad_file_and_smaller_images_are_cropped(tmp_path,
                                                               images):
    """A CustomDataset over a folder with a truncated file, a 3x2 image and
    a gray PNG, through the ImageNet pre-training pipeline."""
    import shutil

    from mmpretrain.datasets import CustomDataset
    folder = tmp_path / 'data' / 'cls'
    folder.mkdir(parents=True)
    for name in ('good', 'tiny', 'gray'):
        shutil.copy(images[name], folder / ('x_' + name + '.png'))
    shutil.copy(images['truncated_jpg'], folder / 'bad.jpg')
    from mmengine.config import Config
    cfg = Config.fromfile('configs/_base_/datasets/imagenet_bs64_semaim.py')
    ds = CustomDataset(data_root=str(tmp_path / 'data'), with_label=False,
                       pipeline=cfg.train_pipeline)
    assert len(ds) == 4
    SafeLoadImageFromFile.skipped = 0
    shapes = {tuple(ds[i]['inputs'].shape) for i in range(4)}
    assert shapes == {(3, 224, 224)}
    assert SafeLoadImageFromFile.skipped >= 1  # bad.jpg, replaced
    SafeLoadImageFromFile.skipped = 0


# --------------------------------------------------------- dataset folders
def test_missing_and_empty_dataset_folders(tmp_path):
    ds = dict(type='ImageNet', data_root=str(tmp_path / 'nope'),
              split='train')
    with pytest.raises(DataCheckError, match='does not exist.*data_root='):
        check_dataset_cfg(ds)
    (tmp_path / 'empty' / 'train' / 'n01').mkdir(parents=True)
    ds['data_root'] = str(tmp_path / 'empty')
    with pytest.raises(DataCheckError, match='holds no image files'):
        check_dataset_cfg(ds)
    (tmp_path / 'empty' / 'train' / 'n01' / 'a.JPEG').write_bytes(b'x')
    check_dataset_cfg(ds)
    with pytest.raises(DataCheckError, match='annotation file'):
        check_dataset_cfg(dict(type='CustomDataset', data_root=str(tmp_path),
                               ann_file='meta/train.txt'))


def test_train_py_reports_missing_folder(tmp_path):
    res = subprocess.run(
        [sys.executable, 'tools/train.py', 'configs/pretrain/'
         'semaim_vitb_800e.py', '--work-dir', str(tmp_path), '--cfg-options',
         f'train_dataloader.dataset.data_root={tmp_path}/imagenet'],
        capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert 'error: dataset folder' in res.stderr
    assert 'Traceback' not in res.stderr
    assert not list(tmp_path.iterdir())  # nothing written


# ------------------------------------------------------ annotation files
def coco(tmp_path, data=None, text=None):
    p = tmp_path / 'ann.json'
    p.write_text(text if text is not None else json.dumps(data))
    return str(p)


GOOD_COCO = dict(images=[dict(id=1, file_name='a.jpg')],
                 annotations=[dict(id=1, image_id=1, category_id=3,
                                   bbox=[0, 0, 5, 5])],
                 categories=[dict(id=3, name='cat')])


@pytest.mark.parametrize('bad,match', [
    (dict(text='{"images": [1, 2'), 'not valid JSON.*download it again'),
    (dict(data=[1, 2]), 'top level is list'),
    (dict(data=dict(images=[])), r"lacks the list\(s\)"),
    (dict(data=dict(GOOD_COCO, images=[])), 'lists no images'),
    (dict(data=dict(GOOD_COCO, images=[dict(id=1)])), "needs 'id'"),
    (dict(data=dict(GOOD_COCO, annotations=[dict(
        id=1, image_id=1, category_id=3, bbox=[0, 0, 5])])), r'\[x, y, w, h\]'),
    (dict(data=dict(GOOD_COCO, annotations=[dict(
        id=1, image_id=9, category_id=3, bbox=[0, 0, 5, 5])])), 'image_id 9'),
    (dict(data=dict(GOOD_COCO, annotations=[dict(
        id=1, image_id=1, category_id=7, bbox=[0, 0, 5, 5])])),
     'category_id 7'),
])
def test_malformed_coco(tmp_path, bad, match):
    with pytest.raises(DataCheckError, match=match):
        check_coco_annotation(coco(tmp_path, **bad))


def test_good_coco_and_missing_file(tmp_path):
    assert check_coco_annotation(coco(tmp_path, GOOD_COCO))['images']
    with pytest.raises(DataCheckError, match='does not exist'):
        check_coco_annotation(str(tmp_path / 'none.json'))
    check_dataset_cfg(dict(type='CocoDataset', data_root=str(tmp_path),
                           ann_file='ann.json'))


def test_ade20k_checks(tmp_path):
    with pytest.raises(DataCheckError, match='does not exist'):
        check_ade20k(str(tmp_path))
    (tmp_path / 'images/training').mkdir(parents=True)
    (tmp_path / 'annotations/training').mkdir(parents=True)
    with pytest.raises(DataCheckError, match='no \\*.jpg'):
        check_ade20k(str(tmp_path))
    for n in ('a', 'b'):
        (tmp_path / f'images/training/{n}.jpg').write_bytes(b'x')
    (tmp_path / 'annotations/training/a.png').write_bytes(b'x')
    with pytest.raises(DataCheckError, match='1 image.*b.png'):
        check_ade20k(str(tmp_path))
    (tmp_path / 'annotations/training/b.png').write_bytes(b'x')
    assert check_ade20k(str(tmp_path)) == 2


def test_checks_do_not_import_mmdet_or_mmseg():
    code = ('import sys, semaim_mm.datasets.checks; '
            'print(any(m.startswith(("mmseg",)) for m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, timeout=300)
    assert out.stdout.strip() == 'False', out.stderr[-2000:]


# ------------------------------------------------------------ checkpoints
@pytest.fixture(scope='module')
def tiny_semaim():
    import semaim_mm  # noqa: F401
    from mmpretrain.registry import MODELS
    return MODELS.build(dict(
        type='SemAIM',
        backbone=dict(type='SemAIMViT', arch=dict(
            embed_dims=32, num_layers=2, num_heads=2,
            feedforward_channels=64), img_size=28, patch_size=7),
        neck=dict(type='SemAIMDecoder', num_heads=2, depth=2),
        head=dict(type='SemAIMHead', embed_dims=32)))


@pytest.mark.parametrize('kind,keys,match', [
    ('detector', ['backbone.layers.0.x', 'roi_head.bbox_head.fc'],
     'detector checkpoint'),
    ('reference', ['blocks.0.attn.qkv.weight', 'query_blocks.0.x'],
     'semaim_reference.py'),
    ('backbone', ['layers.0.ln1.weight', 'patch_embed.projection.weight'],
     'bare backbone'),
    ('unknown', ['foo.bar'], 'no known layout'),
])
def test_wrong_checkpoint_kind(tmp_path, tiny_semaim, kind, keys, match):
    p = tmp_path / 'x.pth'
    torch.save(dict(state_dict={k: torch.zeros(1) for k in keys}), p)
    with pytest.raises(CheckpointCheckError, match=match):
        check_checkpoint_kind(str(p), tiny_semaim, resume=True)


def test_right_checkpoint_kind(tmp_path, tiny_semaim):
    p = tmp_path / 'ok.pth'
    torch.save(dict(state_dict=tiny_semaim.state_dict()), p)
    check_checkpoint_kind(str(p), tiny_semaim, resume=False)
    assert checkpoint_problem(str(p)) is None
    p.write_bytes(p.read_bytes()[:100])
    assert 'truncated' in checkpoint_problem(str(p))
    (tmp_path / 'e.pth').write_bytes(b'')
    assert 'empty' in checkpoint_problem(str(tmp_path / 'e.pth'))
    (tmp_path / 'g.pth').write_bytes(b'<html>not found</html>')
    assert 'not a torch' in checkpoint_problem(str(tmp_path / 'g.pth'))


def test_missing_load_from(tmp_path):
    from mmengine.config import Config
    cfg = Config(dict(load_from=str(tmp_path / 'none.pth'), resume=True))
    with pytest.raises(DataCheckError, match='--resume checkpoint'):
        check_train_config(cfg)


# ---------------------------------------------------------- config values
def _build(**over):
    from mmpretrain.registry import MODELS
    cfg = dict(
        type='SemAIM',
        backbone=dict(type='SemAIMViT', arch=dict(
            embed_dims=32, num_layers=2, num_heads=2,
            feedforward_channels=64), img_size=28, patch_size=7),
        neck=dict(type='SemAIMDecoder', num_heads=2, depth=2),
        head=dict(type='SemAIMHead', embed_dims=32))
    for path, value in over.items():
        d = cfg
        *parents, leaf = path.split('__')
        for p in parents:
            d = d[p]
        d[leaf] = value
    return MODELS.build(cfg)


@pytest.mark.parametrize('over', [
    dict(order=dict(type='semantic', lam=-1.0)),
    dict(neck__depth=0),
    dict(backbone__patch_size=5),
    dict(similarity_source='teacher?'),
])
def test_config_values_out_of_range(tiny_semaim, over):
    with pytest.raises(ValueError):
        _build(**over)


def test_nonfinite_hook_args():
    from semaim_mm.engine import NonFiniteLossHook
    with pytest.raises(ValueError, match='action'):
        NonFiniteLossHook(action='ignore')
    with pytest.raises(ValueError):
        SafeLoadImageFromFile(on_error='ignore')
