"""Per-layer learning rates from SemAIMLayerDecayOptimizerConstructor."""
import pytest
import torch

from .conftest import TINY_CONFIG


@pytest.fixture
def tiny_model(mmseg_scope):
    from mmengine.config import Config
    from mmseg.registry import MODELS
    cfg = Config.fromfile(TINY_CONFIG)
    torch.manual_seed(0)
    return MODELS.build(cfg.model), cfg


def test_per_layer_lr(tiny_model):
    from mmengine.optim import build_optim_wrapper
    model, _ = tiny_model
    base_lr, rate, wd = 4e-4, 0.65, 0.05
    ow = build_optim_wrapper(model, dict(
        type='OptimWrapper',
        optimizer=dict(type='AdamW', lr=base_lr, weight_decay=wd),
        constructor='SemAIMLayerDecayOptimizerConstructor',
        paramwise_cfg=dict(decay_rate=rate)))
    n = model.backbone.num_layers  # 4
    lr, decay = {}, {}
    for g in ow.optimizer.param_groups:
        for name in g['param_names']:
            lr[name], decay[name] = g['lr'], g['weight_decay']
    names = {name for name, p in model.named_parameters() if p.requires_grad}
    assert set(lr) == names  # every trainable parameter, once
    assert 'backbone.pos_embed' not in lr  # fixed sin-cos, frozen

    def close(a, b):
        return a == pytest.approx(b, rel=1e-9)

    assert close(lr['backbone.cls_token'], base_lr * rate**(n + 1))
    assert close(lr['backbone.patch_embed.projection.weight'],
                 base_lr * rate**(n + 1))
    for i in range(n):
        assert close(lr[f'backbone.layers.{i}.attn.qkv.weight'],
                     base_lr * rate**(n - i))
        assert close(lr[f'backbone.layers.{i}.ln1.bias'],
                     base_lr * rate**(n - i))
    for name in ('decode_head.conv_seg.weight',
                 'auxiliary_head.conv_seg.weight', 'neck.upsample_2x.0.weight'):
        assert close(lr[name], base_lr)
    assert decay['backbone.cls_token'] == 0.
    assert decay['backbone.layers.0.ln1.weight'] == 0.
    assert decay['backbone.layers.0.attn.qkv.bias'] == 0.
    assert decay['backbone.layers.0.attn.qkv.weight'] == wd
    assert decay['decode_head.conv_seg.weight'] == wd


def test_stock_mmseg_constructor_rejects_this_backbone(tiny_model):
    """Why we register our own: mmseg's only knows BEiT/MAE/ConvNeXt."""
    from mmengine.optim import build_optim_wrapper
    model, _ = tiny_model
    with pytest.raises(NotImplementedError):
        build_optim_wrapper(model, dict(
            type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3),
            constructor='LearningRateDecayOptimizerConstructor',
            paramwise_cfg=dict(num_layers=4, decay_rate=0.65)))
