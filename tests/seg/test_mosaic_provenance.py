"""Fashion-MNIST mosaics keep the validation hold-out out of their train
canvases, record where every item comes from, and mosaic data made by an
older generator is refused (never removed) by the pre-flight."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from mmengine import Config

from semaim_mm.datasets.checks import DataCheckError, check_dataset_cfg
from semaim_mm.datasets.fashion_mnist import (SPLIT_FILES, _find_file,
                                              find_fashion_mnist, read_idx,
                                              val_indices)
from semaim_mm.datasets.mosaic import (META_FILE, VERSION, ItemSource,
                                       generate_mosaic)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = ('configs/pretrain/semaim_vit-tiny-p8_fashion-mosaic.py',
           'configs/det/semaim_vit-tiny_mask-rcnn_fpn_fashion-mosaic.py',
           'configs/seg/semaim_vit-tiny-p8_upernet_fashion-mosaic-128x128.py')
DEFAULT_OUT = 'data/fashion_mosaic'


def _labels(split: str) -> np.ndarray:
    root = find_fashion_mnist()
    return read_idx(_find_file(root, SPLIT_FILES[split][1]))


@pytest.fixture(scope='module')
def real_mosaic(tmp_path_factory):
    """24 train and 4 val canvases of real Fashion-MNIST items."""
    out = str(tmp_path_factory.mktemp('real') / 'fashion_mosaic')
    generate_mosaic(out, num_train=24, num_val=4, seed=0, fmt='coco')
    return out


def _coco(out: str, split: str) -> dict:
    with open(osp.join(out, 'coco', 'annotations',
                       f'instances_{split}.json')) as f:
        return json.load(f)


def test_train_items_avoid_the_validation_holdout(real_mosaic):
    coco = _coco(real_mosaic, 'train')
    pasted = {i for img in coco['images'] for i in img['source_indices']}
    annotated = {a['source_index'] for a in coco['annotations']}
    assert len(pasted) > 40 and annotated <= pasted
    labels = _labels('train')
    assert not pasted & set(val_indices(labels).tolist())
    # recorded indices are train-file indices: each names its item's class
    assert all(labels[a['source_index']] == a['category_id'] - 1
               for a in coco['annotations'])


def test_val_items_come_from_the_test_file(real_mosaic):
    coco = _coco(real_mosaic, 'val')
    labels = _labels('test')
    assert coco['annotations'] and all(
        labels[a['source_index']] == a['category_id'] - 1
        for a in coco['annotations'])


def test_provenance_marker(real_mosaic):
    with open(osp.join(real_mosaic, 'coco', META_FILE)) as f:
        meta = json.load(f)
    assert meta['version'] == VERSION
    assert meta['item_splits'] == {'train': 'train_minus_val', 'val': 'test'}
    info = _coco(real_mosaic, 'train')['info']
    assert {k: info[k] for k in meta} == meta
    assert not osp.exists(osp.join(real_mosaic, 'ade'))  # coco only


@pytest.fixture(scope='module')
def dataset_cfgs():
    """The train datasets of the mosaic pre-training, det and seg configs."""
    return [Config.fromfile(osp.join(REPO, c)).train_dataloader.dataset
            for c in CONFIGS]


def _at(ds_cfg, out: str):
    ds = ds_cfg.copy()
    ds.data_root = ds.data_root.replace(DEFAULT_OUT, out)
    return ds


def _toy_mosaic(out: str) -> None:
    """A tiny mosaic of random items (the checks read no pixels)."""
    rng = np.random.default_rng(0)
    items = (rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
             rng.integers(0, 10, 20))
    generate_mosaic(out, num_train=3, num_val=2, fmt='both',
                    sources={s: ItemSource(items) for s in ('train', 'val')})


def _files(out: str) -> list:
    return sorted(osp.join(d, f) for d, _, fs in os.walk(out) for f in fs)


def test_current_mosaic_passes(tmp_path, dataset_cfgs):
    out = str(tmp_path / 'data' / 'fashion_mosaic')
    _toy_mosaic(out)
    for ds in dataset_cfgs:
        check_dataset_cfg(_at(ds, out))


@pytest.mark.parametrize('stale', ['no_meta', 'old_version'])
def test_stale_mosaic_refused_and_kept(tmp_path, dataset_cfgs, stale):
    out = str(tmp_path / 'data' / 'fashion_mosaic')
    _toy_mosaic(out)
    for layout in ('coco', 'ade'):
        meta = osp.join(out, layout, META_FILE)
        if stale == 'no_meta':  # what the generator before VERSION 2 left
            os.remove(meta)
        else:
            with open(meta, 'w') as f:
                json.dump(dict(version=1), f)
    before = _files(out)
    for ds in dataset_cfgs:
        with pytest.raises(DataCheckError) as e:
            check_dataset_cfg(_at(ds, out))
        msg = str(e.value)
        assert '\n' not in msg
        assert (META_FILE if stale == 'no_meta' else 'version 1') in msg
        assert f'mv {out} {out}.old' in msg
        assert (f'python tools/dataset_converters/fashion_mosaic.py --out '
                f'{out} --format both') in msg
    assert _files(out) == before


def test_unmarked_folder_elsewhere_is_not_mosaic_data(tmp_path, dataset_cfgs):
    """Only a `fashion_mosaic` folder or one with the meta file is checked."""
    out = str(tmp_path / 'other')
    _toy_mosaic(out)
    for layout in ('coco', 'ade'):
        os.remove(osp.join(out, layout, META_FILE))
    for ds in dataset_cfgs:
        check_dataset_cfg(_at(ds, out))


def test_generator_refuses_existing_data(tmp_path):
    out = str(tmp_path / 'fashion_mosaic')
    _toy_mosaic(out)
    before = [(p, osp.getmtime(p)) for p in _files(out)]
    with pytest.raises(FileExistsError, match='move it aside'):
        _toy_mosaic(out)
    sys.path.insert(0, osp.join(REPO, 'tools', 'dataset_converters'))
    try:
        from fashion_mosaic import main
    finally:
        sys.path.pop(0)
    with pytest.raises(SystemExit) as e:
        main(['--out', out, '--format', 'ade20k', '--num-train', '1',
              '--num-val', '1'])
    assert str(e.value.code).startswith('error: ') and \
        osp.join(out, 'ade') in str(e.value.code)
    assert [(p, osp.getmtime(p)) for p in _files(out)] == before


@pytest.mark.slow  # a tools/train.py subprocess: about 20 s on the 2-core host
def test_train_tool_stale_mosaic_one_error_line(tmp_path):
    """tools/train.py's pre-flight on old mosaic pre-training data."""
    out = str(tmp_path / 'data' / 'fashion_mosaic')
    _toy_mosaic(out)
    os.remove(osp.join(out, 'coco', META_FILE))
    res = subprocess.run(
        [sys.executable, 'tools/train.py', CONFIGS[0], '--preflight-only',
         '--work-dir', str(tmp_path / 'work'), '--cfg-options',
         f'train_dataloader.dataset.data_root={out}/coco/train'],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1'))
    assert res.returncode == 1, res.stderr[-2000:]
    assert 'Traceback' not in res.stderr
    lines = [x for x in res.stderr.splitlines() if x.startswith('error: ')]
    assert len(lines) == 1 and f'--out {out} --format both' in lines[0], \
        res.stderr[-2000:]
    assert osp.isfile(osp.join(out, 'coco', 'train', '000000.png'))
