"""Every pre-training config builds its model, data pipeline, optimizer
wrapper and parameter schedulers (datasets are built, never loaded)."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS, MODELS, PARAM_SCHEDULERS

from semaim_mm.models import build_order_rule

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# Configs with a DINO/CLIP teacher need its published weights to build (never
# a random teacher); tests/teachers builds them with teacher files it writes.
CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', 'pretrain', '*.py'))
    if not ('_dino' in p or '_clip' in p))


def build_parts(path, tmp_path):
    cfg = Config.fromfile(path)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
        pipeline = Compose(cfg.train_dataloader.dataset.pipeline)
        ds_cfg = dict(cfg.train_dataloader.dataset)
        if ds_cfg['type'] == 'ImageNet':  # absent here: an empty folder
            (tmp_path / 'train').mkdir(exist_ok=True)
            ds_cfg.update(data_root=str(tmp_path), lazy_init=True)
            dataset = DATASETS.build(ds_cfg)
            assert not dataset._fully_initialized
        optim_cfg = dict(cfg.optim_wrapper)
        if optim_cfg['type'] == 'AmpOptimWrapper':
            assert optim_cfg.get('dtype') == 'bfloat16', path
            if not torch.cuda.is_available():
                optim_cfg['type'] = 'OptimWrapper'  # AMP needs a GPU
                optim_cfg.pop('loss_scale', None)
                optim_cfg.pop('dtype')
        wrapper = build_optim_wrapper(model, optim_cfg)
        schedulers = []
        for s in cfg.param_scheduler:
            s = dict(s)
            # as mmengine's Runner: no `end` = the end of training
            loop = cfg.train_cfg
            s.setdefault('end', loop.get('max_epochs') if s.get(
                'by_epoch', True) else loop.get('max_iters'))
            cls = PARAM_SCHEDULERS.get(s.pop('type'))
            if s.pop('convert_to_iter_based', False):
                schedulers.append(cls.build_iter_from_epoch(
                    wrapper.optimizer, epoch_length=10, **s))
            else:
                schedulers.append(cls(wrapper.optimizer, **s))
    return cfg, model, pipeline, wrapper, schedulers


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds(path, tmp_path):
    cfg, model, pipeline, wrapper, schedulers = build_parts(path, tmp_path)
    assert len(schedulers) == len(cfg.param_scheduler)
    n_params = sum(p.numel() for g in wrapper.optimizer.param_groups
                   for p in g['params'])
    assert n_params == sum(p.numel() for p in model.parameters()
                           if p.requires_grad)


def test_paper_hyper_parameters():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/pretrain/semaim_vitb_800e.py'))
    opt = cfg.optim_wrapper.optimizer
    assert opt.type == 'AdamW' and tuple(opt.betas) == (0.9, 0.95)
    assert opt.weight_decay == 0.05
    assert abs(opt.lr - 2e-4 * 2048 / 256) < 1e-12
    assert cfg.optim_wrapper.clip_grad.max_norm == 3.0
    assert cfg.train_cfg.max_epochs == 800
    assert cfg.param_scheduler[0].end == 30
    assert cfg.train_dataloader.batch_size == 64
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        assert len(MODELS.build(cfg.model).neck.blocks) == 12
    # the order by name: the class defaults are the paper's (Eq. 3-6)
    order = build_order_rule(cfg.model.order)
    assert type(order).__name__ == 'SemanticOrder' and order.lam == 0.01
    assert order.filter_size == 3
    crop = cfg.train_dataloader.dataset.pipeline[1]
    assert tuple(crop.crop_ratio_range) == (0.2, 1.0)
    assert crop.interpolation == 'bicubic'


def test_vit_base_forward_backward_on_cpu(tmp_path):
    _, model, pipeline, _, _ = build_parts(
        osp.join(ROOT, 'configs/pretrain/semaim_vitb_800e.py'), tmp_path)
    model.init_weights()
    import numpy as np
    from PIL import Image
    img = np.random.RandomState(0).randint(0, 255, (300, 260, 3), np.uint8)
    path = tmp_path / 'photo.jpg'
    Image.fromarray(img).save(path)
    packed = pipeline(dict(img_path=str(path)))
    assert tuple(packed['inputs'].shape) == (3, 224, 224)
    batch = model.data_preprocessor(
        dict(inputs=torch.stack([packed['inputs']] * 2),
             data_samples=[packed['data_samples']] * 2), training=True)
    losses = model(**batch, mode='loss')
    losses['loss'].backward()
    assert torch.isfinite(losses['loss'])
    assert model.backbone.layers[0].attn.qkv.weight.grad is not None


def test_reference_code_preset():
    """The reference code's order and its fp32 similarity pass."""
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs/pretrain/semaim_vitb_200e_order-semantic-official.py'))
    order = build_order_rule(cfg.model.order)
    assert type(order).__name__ == 'OfficialSemanticOrder'
    assert (order.lam, order.filter_size) == (1e-3, 1)
    assert cfg.model.similarity_fp32 is True
