import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ADE_CONFIG = osp.join(REPO, 'configs', 'seg',
                      'semaim_vitb_upernet_160k_ade20k-512x512.py')
TINY_CONFIG = osp.join(REPO, 'configs', 'seg',
                       'semaim_vit-tiny-p8_upernet_fashion-mosaic-128x128.py')


@pytest.fixture
def mmseg_scope():
    """Import the seg modules and build under mmseg's registry scope."""
    import semaim_mm.seg  # noqa: F401
    from mmengine.registry import DefaultScope
    name = 'semaim_seg_test'
    scope = (DefaultScope.get_instance(name, scope_name='mmseg')
             if not DefaultScope.check_instance_created(name) else
             DefaultScope.get_instance(name))
    with DefaultScope.overwrite_default_scope('mmseg'):
        yield scope


def tiny_backbone_cfg(**kwargs):
    cfg = dict(type='SemAIMViTSeg',
               arch=dict(embed_dims=32, num_layers=12, num_heads=2,
                         feedforward_channels=64),
               img_size=64, patch_size=16, out_indices=(3, 5, 7, 11),
               drop_path_rate=0.)
    cfg.update(kwargs)
    return cfg


def shrink_to_tiny(model_cfg, dims=32, heads=2):
    """Keep a full config's structure (12 blocks, out_indices, pyramid,
    UperNet, slide inference) but make every width tiny."""
    model_cfg.backbone.arch = dict(embed_dims=dims, num_layers=12,
                                   num_heads=heads,
                                   feedforward_channels=2 * dims)
    model_cfg.backbone.init_cfg = None
    model_cfg.neck.embed_dim = dims
    model_cfg.decode_head.in_channels = [dims] * 4
    model_cfg.decode_head.channels = 16
    model_cfg.auxiliary_head.in_channels = dims
    model_cfg.auxiliary_head.channels = 8
    return model_cfg
