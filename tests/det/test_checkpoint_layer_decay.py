"""SemAIM pre-training checkpoint -> SemAIMViTDet (only documented missing
keys) and the layer-decay optimizer constructor."""
import re

import pytest
import torch

from mmengine.registry import DefaultScope  # noqa: E402

from semaim_mm.checkpoints import semaim_to_backbone  # noqa: E402
from semaim_mm.det import (DROPPED_KEYS, SemAIMLayerDecayOptimizerConstructor,  # noqa: E402
                           SemAIMViTDet, is_new_key)

ARCH = dict(embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=64)


@pytest.fixture(scope='module')
def semaim_state_dict():
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(dict(
            type='SemAIM',
            backbone=dict(type='SemAIMViT', arch=ARCH, img_size=32,
                          patch_size=16),
            neck=dict(type='SemAIMDecoder', embed_dims=32, num_heads=2,
                      depth=4, encoder_depth=4),
            head=dict(type='SemAIMHead', embed_dims=32)))
    return model.state_dict()


def det_backbone(**kw):
    cfg = dict(arch=ARCH, img_size=64, pretrain_img_size=32, patch_size=16,
               window_size=2)
    cfg.update(kw)
    return SemAIMViTDet(**cfg)


@pytest.mark.parametrize('pyramid', ['multilevel', 'simple'])
def test_converted_checkpoint_loads_with_documented_missing_keys(
        semaim_state_dict, pyramid):
    sd = semaim_to_backbone(semaim_state_dict)
    m = det_backbone(pyramid=pyramid)
    res = m.load_state_dict(sd, strict=False)
    assert res.unexpected_keys == []
    assert res.missing_keys, 'rel-pos tables and pyramid must be new'
    assert all(is_new_key(k) for k in res.missing_keys), res.missing_keys
    assert any(re.search(r'rel_pos_h$', k) for k in res.missing_keys)
    own = m.state_dict()
    for k, v in sd.items():
        if k in DROPPED_KEYS:
            continue
        assert torch.equal(own[k], v), k


def test_pretrained_init_with_prefix(semaim_state_dict, tmp_path):
    """init_cfg=Pretrained on the raw pre-training checkpoint with
    prefix='backbone.' (and a 64x64-interpolated converted one)."""
    path = tmp_path / 'semaim.pth'
    torch.save(dict(state_dict=semaim_state_dict, meta=dict()), path)
    m = det_backbone(init_cfg=dict(type='Pretrained', checkpoint=str(path),
                                   prefix='backbone.'))
    m.init_weights()
    w = semaim_state_dict['backbone.layers.3.attn.qkv.weight']
    assert torch.equal(m.layers[3].attn.qkv.weight, w)
    assert torch.equal(m.pos_embed, semaim_state_dict['backbone.pos_embed'])

    conv = tmp_path / 'backbone.pth'
    torch.save(dict(state_dict=semaim_to_backbone(semaim_state_dict, (4, 4))),
               conv)
    m = det_backbone(init_cfg=dict(type='Pretrained', checkpoint=str(conv)))
    m.init_weights()
    assert torch.equal(m.layers[0].ffn.layers[1].weight,
                       semaim_state_dict['backbone.layers.0.ffn.layers.1.weight'])
    assert m.pos_embed.shape == (1, 5, 32)  # back on the 2x2 pre-train grid



def test_pretrained_init_errors_name_the_fix(semaim_state_dict, tmp_path):
    m = det_backbone(init_cfg=dict(type='Pretrained',
                                   checkpoint=str(tmp_path / 'missing.pth')))
    with pytest.raises(FileNotFoundError, match='init_cfg=None'):
        m.init_weights()
    path = tmp_path / 'semaim.pth'
    torch.save(dict(state_dict=semaim_state_dict), path)
    wider = dict(ARCH, embed_dims=48, num_heads=3)
    m = det_backbone(arch=wider, init_cfg=dict(type='Pretrained',
                                               checkpoint=str(path)))
    with pytest.raises(RuntimeError, match='size mismatch'):
        m.init_weights()
    deeper = dict(ARCH, num_layers=8)
    m = det_backbone(arch=deeper, init_cfg=dict(type='Pretrained',
                                                checkpoint=str(path)))
    with pytest.raises(KeyError, match='layers.4'):
        m.init_weights()

def test_converter_tool(semaim_state_dict, tmp_path, repo_root, python_env):
    import subprocess
    import sys
    src, dst = tmp_path / 'semaim.pth', tmp_path / 'bb.pth'
    torch.save(dict(state_dict=semaim_state_dict), src)
    subprocess.run([sys.executable,
                    f'{repo_root}/tools/model_converters/semaim_to_backbone.py',
                    str(src), str(dst), '--grid', '4', '4'],
                   check=True, env=python_env, capture_output=True)
    sd = torch.load(dst, map_location='cpu')['state_dict']
    res = det_backbone().load_state_dict(sd, strict=False)
    assert res.unexpected_keys == [] and all(map(is_new_key,
                                                 res.missing_keys))


class TinyDetector(torch.nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = det_backbone()
        self.neck = torch.nn.Conv2d(32, 8, 1)


def test_layer_decay_lrs_and_weight_decay():
    model = TinyDetector()
    ctor = SemAIMLayerDecayOptimizerConstructor(
        dict(type='OptimWrapper',
             optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.1)),
        dict(decay_rate=0.5))
    with DefaultScope.overwrite_default_scope('mmdet'):
        opt = ctor(model).optimizer
    lr_of, wd_of = {}, {}
    for g in opt.param_groups:
        for p in g['params']:
            lr_of[id(p)], wd_of[id(p)] = g['lr'], g['weight_decay']
    named = dict(model.named_parameters())
    assert len(lr_of) == len(named)  # every parameter in exactly one group

    def lr(n):
        return lr_of[id(named[n])]

    def wd(n):
        return wd_of[id(named[n])]

    L = 4
    assert lr('backbone.patch_embed.projection.weight') == 0.5**(L + 1)
    assert lr('backbone.pos_embed') == 0.5**(L + 1)
    for i in range(L):
        assert lr(f'backbone.layers.{i}.attn.qkv.weight') == 0.5**(L - i)
    assert lr('backbone.ln1.weight') == 1.0
    assert lr('backbone.pyramid.1.weight') == 1.0
    assert lr('neck.weight') == 1.0
    for n in ('backbone.pos_embed', 'backbone.layers.0.attn.rel_pos_h',
              'backbone.layers.1.attn.rel_pos_w', 'backbone.layers.2.ln1.weight',
              'backbone.layers.2.attn.qkv.bias', 'neck.bias'):
        assert wd(n) == 0.0, n
    for n in ('backbone.layers.2.attn.qkv.weight',
              'backbone.patch_embed.projection.weight', 'neck.weight',
              'backbone.pyramid.1.weight'):
        assert wd(n) == 0.1, n


def test_mmdet_constructor_does_not_fit():
    """Why the project has its own constructor: mmdet's only supports
    ConvNeXt."""
    from mmdet.engine.optimizers import LearningRateDecayOptimizerConstructor
    ctor = LearningRateDecayOptimizerConstructor(
        dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1.0)),
        dict(decay_rate=0.5, num_layers=4))
    with pytest.raises(NotImplementedError):
        ctor(TinyDetector())
