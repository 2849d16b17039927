"""Detection configs build (model, pipelines, optimizer) and the real data
(labelme VOC photos, Fashion-MNIST mosaics) load through mmdet's CocoDataset."""
import copy
import os.path as osp

import pytest
import torch

from mmengine.config import Config  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FULL = osp.join(ROOT, 'configs/det/semaim_vitb_mask-rcnn_fpn_100e_coco.py')
SHORT = osp.join(ROOT, 'configs/det/semaim_vitb_mask-rcnn_fpn_12.5e-bs16_coco.py')
TINY = osp.join(ROOT,
                'configs/det/semaim_vit-tiny_mask-rcnn_fpn_fashion-mosaic.py')
VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus',
               'car', 'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse',
               'motorbike', 'person', 'potted plant', 'sheep', 'sofa',
               'train', 'tv/monitor')


def build(registry_name, cfg):
    import semaim_mm.det  # noqa: F401
    import mmdet.registry as reg
    with DefaultScope.overwrite_default_scope('mmdet'):
        return getattr(reg, registry_name).build(cfg)


def labelme_dataset(pipeline=(), **kw):
    """labelme 6.3.1's COCO example (real VOC photos), fetched with pip
    once (semaim_mm.datasets.labelme_examples)."""
    from semaim_mm.datasets.labelme_examples import fetch_labelme_examples
    return build('DATASETS', dict(
        type='CocoDataset', data_root=fetch_labelme_examples()['coco'],
        ann_file='annotations.json', data_prefix=dict(img=''),
        metainfo=dict(classes=VOC_CLASSES), pipeline=list(pipeline), **kw))


def test_full_config_values():
    cfg = Config.fromfile(FULL)
    assert cfg.default_scope == 'mmdet'
    assert cfg.custom_imports.imports == ['semaim_mm.det']
    b = cfg.model.backbone
    assert (b.type, b.arch, b.window_size, b.global_attn_indexes,
            b.drop_path_rate, b.pyramid) == ('SemAIMViTDet', 'base', 14,
                                             (2, 5, 8, 11), 0.1, 'multilevel')
    assert cfg.train_dataloader.batch_size * 8 == 64
    assert cfg.optim_wrapper.optimizer.lr == 8e-5
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.1
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.paramwise_cfg.decay_rate == 0.7
    assert cfg.train_cfg.max_epochs == 100
    assert cfg.param_scheduler[0].end == 0.25
    assert cfg.val_evaluator.metric == ['bbox', 'segm']
    types = [t['type'] for t in cfg.train_pipeline]
    assert {'RandomResize', 'RandomCrop', 'Pad'} <= set(types)
    assert cfg.train_pipeline[2].ratio_range == (0.1, 2.0)
    short = Config.fromfile(SHORT)
    assert short.train_dataloader.batch_size * 8 == 16
    assert short.train_cfg.type == 'IterBasedTrainLoop'


@pytest.mark.slow  # a ViT-B Mask R-CNN step on CPU: about 40 s
def test_full_config_builds_and_trains_one_step_cpu():
    """ViT-B detector + optimizer + pipelines from the COCO config (no COCO
    on disk: build, don't load); one loss/backward at batch 1, 256x256."""
    cfg = Config.fromfile(FULL)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.init_cfg = None
    model = build('MODELS', model_cfg)
    model.init_weights()
    from mmengine.optim import build_optim_wrapper
    ow = copy.deepcopy(cfg.optim_wrapper)
    ow.type = 'OptimWrapper'  # AmpOptimWrapper needs a GPU
    assert ow.pop('dtype') == 'bfloat16' and ow.pop('loss_scale') == 1.0
    with DefaultScope.overwrite_default_scope('mmdet'):
        optim = build_optim_wrapper(model, ow)
    lrs = sorted({g['lr'] for g in optim.optimizer.param_groups})
    assert lrs[-1] == pytest.approx(8e-5)
    assert lrs[0] == pytest.approx(8e-5 * 0.7**13)

    # Both pipelines on a real photo (LSJ: crop/pad to 1024x1024).
    from mmengine.dataset import Compose, pseudo_collate
    with DefaultScope.overwrite_default_scope('mmdet'):
        train = labelme_dataset(cfg.train_pipeline)
        test = labelme_dataset(cfg.test_pipeline, test_mode=True)
        sample = train[0]
        assert tuple(sample['inputs'].shape[1:]) == (1024, 1024)
        assert tuple(test[0]['inputs'].shape[1:]) == (1024, 1024)
        assert isinstance(Compose(cfg.train_pipeline), Compose)
        # reduced input for the CPU step
        small = [t for t in cfg.train_pipeline]
        small[2] = dict(small[2], scale=(256, 256))
        small[3] = dict(small[3], crop_size=(256, 256))
        small[6] = dict(small[6], size=(256, 256))
        ds = labelme_dataset(small)
        batch = pseudo_collate([ds[1]])
    model.train()
    data = model.data_preprocessor(batch, True)
    assert data['inputs'].shape[-2:] == (256, 256)
    losses = model.loss(data['inputs'], data['data_samples'])
    loss, _ = model.parse_losses(losses)
    optim.update_params(loss)
    assert torch.isfinite(loss)
    assert model.backbone.layers[0].attn.rel_pos_h.grad is None  # zeroed


def test_labelme_coco_loads():
    ds = labelme_dataset(
        [dict(type='LoadImageFromFile'),
         dict(type='LoadAnnotations', with_bbox=True, with_mask=True)])
    assert len(ds) == 3
    item = ds[0]
    assert item['img'].shape == (338, 500, 3)
    assert len(item['gt_bboxes']) == len(item['gt_masks']) > 0
    assert item['gt_masks'].to_ndarray().any()


def _mosaic(tmp_path_factory):
    from semaim_mm.datasets import mosaic
    out = str(tmp_path_factory.mktemp('mosaic'))
    # Fashion-MNIST is part of the test environment (make install).
    mosaic.generate_mosaic(out, num_train=8, num_val=4, seed=0,
                           fmt='coco')
    return osp.join(out, 'coco')


@pytest.fixture(scope='module')
def mosaic_root(tmp_path_factory):
    return _mosaic(tmp_path_factory)


def test_mosaic_coco_loads_with_tiny_config(mosaic_root):
    cfg = Config.fromfile(TINY)
    for split, dl in (('train', cfg.train_dataloader),
                      ('val', cfg.val_dataloader)):
        ds_cfg = copy.deepcopy(dl.dataset)
        ds_cfg.data_root = mosaic_root + '/'
        ds_cfg.pop('indices', None)
        ds = build('DATASETS', ds_cfg)
        assert len(ds) == (8 if split == 'train' else 4)
        item = ds[0]
        assert item['inputs'].shape == (3, 128, 128)
        labels = item['data_samples'].gt_instances.labels
        assert len(labels) >= 1 and int(labels.max()) < 10
        assert ds.metainfo['classes'][0] == 'T-shirt/top'


def test_tiny_pretraining_checkpoint_initialises_tiny_detector(tmp_path):
    """The `_semaim-init` detector loads what the tiny mosaic pre-training
    config produces: same encoder shape, only the documented new keys."""
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    from semaim_mm.det import is_new_key
    pre = Config.fromfile(osp.join(
        ROOT, 'configs/pretrain/semaim_vit-tiny-p8_fashion-mosaic.py'))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        semaim = PRETRAIN_MODELS.build(pre.model)
    ckpt = tmp_path / 'iter_600.pth'
    torch.save(dict(state_dict=semaim.state_dict()), ckpt)
    det = Config.fromfile(osp.join(
        ROOT, 'configs/det/'
        'semaim_vit-tiny_mask-rcnn_fpn_fashion-mosaic_semaim-init.py'))
    assert det.model.backbone.init_cfg.checkpoint.endswith(
        'semaim_vit-tiny-p8_fashion-mosaic/iter_600.pth')
    backbone = build('MODELS', det.model.backbone)
    new, unused = backbone.load_pretrained(str(ckpt))
    assert new and all(map(is_new_key, new))
    assert unused == []
    assert torch.equal(backbone.layers[2].attn.qkv.weight,
                       semaim.backbone.layers[2].attn.qkv.weight)
