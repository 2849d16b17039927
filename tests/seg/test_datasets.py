"""Fashion-MNIST mosaics (generation, COCO + ADE20k layouts) and the
labelme VOC fixture load through the stock mmseg / mmdet datasets."""
import json
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from semaim_mm.datasets.mosaic import (FASHION_MNIST_CLASSES, METAINFO,
                                       ItemSource, generate_canvas,
                                       generate_mosaic, mask_to_rle)

HERE = osp.dirname(osp.abspath(__file__))


@pytest.fixture(scope='module')
def sources():
    """Real Fashion-MNIST items (train_minus_val items for train, test for
    val)."""
    return {'train': ItemSource(split='train_minus_val'),
            'val': ItemSource(split='test')}


@pytest.fixture(scope='module')
def mosaic(tmp_path_factory, sources):
    out = str(tmp_path_factory.mktemp('mosaic'))
    generate_mosaic(out, num_train=6, num_val=3, seed=3, fmt='both',
                    sources=sources)
    return out


def test_canvas_masks_from_pixels(sources):
    rng = np.random.default_rng(0)
    c = generate_canvas(sources['train'], rng, canvas_size=(96, 128),
                        num_items=(3, 3), threshold=30)
    assert c['img'].shape == c['seg_map'].shape == (96, 128)
    assert 1 <= len(c['instances']) <= 3
    union = np.zeros((96, 128), bool)
    for inst in c['instances']:
        m = inst['mask']
        assert not (union & m).any()  # no overlap by default
        union |= m
        assert (c['img'][m] > 30).all()
        assert (c['seg_map'][m] == inst['label'] + 1).all()
        x, y, w, h = inst['bbox']
        assert m[int(y):int(y + h), int(x):int(x + w)].sum() == m.sum()
        assert inst['area'] == m.sum()
    assert (c['seg_map'][~union] == 0).all()


def test_deterministic_by_seed(tmp_path, sources):
    a, b, c = (str(tmp_path / n) for n in 'abc')
    for out, seed in ((a, 1), (b, 1), (c, 2)):
        generate_mosaic(out, 3, 1, seed=seed, fmt='ade20k', sources=sources)
    f = 'ade/annotations/training/000002.png'
    same = [open(osp.join(x, f), 'rb').read() for x in (a, b, c)]
    assert same[0] == same[1] and same[0] != same[2]


def test_rle_roundtrip():
    from pycocotools import mask as mu
    m = np.zeros((7, 5), bool)
    m[0, 0] = m[2:5, 1:4] = m[6, 4] = True
    rle = mask_to_rle(m)
    back = mu.decode(mu.frPyObjects(rle, 7, 5)).astype(bool)
    assert (back == m).all()


def test_ade_layout_loads_with_mmseg(mmseg_scope, mosaic):
    from mmseg.datasets import BaseSegDataset
    ds = BaseSegDataset(
        data_root=osp.join(mosaic, 'ade'), metainfo=METAINFO,
        img_suffix='.png', seg_map_suffix='.png', reduce_zero_label=True,
        data_prefix=dict(img_path='images/training',
                         seg_map_path='annotations/training'),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations', reduce_zero_label=True),
                  dict(type='PackSegInputs')])
    assert len(ds) == 6 and ds.metainfo['classes'] == FASHION_MNIST_CLASSES
    item = ds[0]
    raw = np.array(Image.open(ds.get_data_info(0)['seg_map_path']))
    gt = item['data_samples'].gt_sem_seg.data[0].numpy()
    assert item['inputs'].shape == (3, 128, 128)
    assert (gt[raw == 0] == 255).all()  # background ignored
    assert (gt[raw > 0] == raw[raw > 0] - 1).all()  # classes 0..9
    assert set(np.unique(gt)) <= set(range(10)) | {255}


def test_coco_layout_loads_with_mmdet(mosaic):
    from mmengine.registry import DefaultScope
    import mmdet.datasets  # noqa: F401
    from mmdet.datasets import CocoDataset
    from mmdet.datasets.transforms import LoadAnnotations
    ann = osp.join(mosaic, 'coco', 'annotations', 'instances_train.json')
    coco = json.load(open(ann))
    assert [c['id'] for c in coco['categories']] == list(range(1, 11))
    assert all(a['iscrowd'] == 0 and a['area'] > 0 for a in coco['annotations'])
    with DefaultScope.overwrite_default_scope('mmdet'):
        ds = CocoDataset(data_root=osp.join(mosaic, 'coco'), ann_file=ann,
                         data_prefix=dict(img='train/'),
                         metainfo=dict(classes=FASHION_MNIST_CLASSES),
                         pipeline=[], test_mode=True)
    assert len(ds) == 6
    info = ds.get_data_info(0)
    assert osp.isfile(info['img_path']) and info['instances']
    load = LoadAnnotations(with_bbox=True, with_label=True, with_mask=True)
    results = load(dict(info, img_shape=(128, 128), ori_shape=(128, 128)))
    masks = results['gt_masks'].to_ndarray()
    seg = np.array(Image.open(osp.join(mosaic, 'ade', 'annotations',
                                       'training', '000000.png')))
    for m, lab in zip(masks, results['gt_bboxes_labels']):
        inside = seg[m.astype(bool)]
        # polygons follow the item's outline: nearly all its pixels carry
        # its class in the ADE label map of the same canvas
        assert (inside == lab + 1).mean() > 0.8


def test_labelme_voc_loads_with_mmseg(mmseg_scope, labelme_examples):
    """labelme 6.3.1's VOC export (SegmentationClass palette PNGs)."""
    VOC = labelme_examples['voc']
    from mmseg.datasets import PascalVOCDataset
    ds = PascalVOCDataset(
        data_root=VOC, ann_file='ImageSets/Segmentation/val.txt',
        data_prefix=dict(img_path='JPEGImages',
                         seg_map_path='SegmentationClass'),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations'),
                  dict(type='PackSegInputs')])
    assert len(ds) == 3
    names = open(osp.join(VOC, 'class_names.txt')).read().split('\n')
    assert len(ds.metainfo['classes']) == len([n for n in names if n]) == 21
    for i in range(3):
        item = ds[i]
        raw = np.array(Image.open(ds.get_data_info(i)['seg_map_path']))
        gt = item['data_samples'].gt_sem_seg.data[0].numpy()
        assert gt.shape == raw.shape == tuple(item['inputs'].shape[1:])
        assert (gt == raw).all()  # palette indices, 255 = ignore
    assert set(np.unique(gt)) <= set(range(21)) | {255}
