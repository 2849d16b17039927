"""Loading SemAIM pre-training checkpoints into the seg backbone: only the
documented keys (the unused final norm) are left over."""
import os.path as osp

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ARCH = dict(embed_dims=128, num_layers=6, num_heads=4,
            feedforward_channels=512)


@pytest.fixture(scope='module')
def semaim_ckpt(tmp_path_factory):
    """A real SemAIM pre-training model (the tiny Fashion-MNIST config),
    saved like tools/train.py saves it."""
    import semaim_mm  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/pretrain/semaim_vit-tiny-p4_fashion-mnist.py'))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    path = str(tmp_path_factory.mktemp('ckpt') / 'semaim.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict(iter=1)), path)
    return path, model.state_dict()


def _seg_backbone(init_cfg):
    from mmseg.registry import MODELS
    return MODELS.build(dict(type='SemAIMViTSeg', arch=ARCH, img_size=32,
                             patch_size=4, out_indices=(1, 3, 5),
                             init_cfg=init_cfg))


def test_pretrained_init_cfg_with_prefix(mmseg_scope, semaim_ckpt):
    path, sd = semaim_ckpt
    m = _seg_backbone(dict(type='Pretrained', checkpoint=path,
                           prefix='backbone.'))
    m.init_weights()
    got = m.state_dict()
    for k in ('layers.5.ffn.layers.1.weight', 'layers.0.attn.qkv.weight',
              'patch_embed.projection.weight', 'cls_token'):
        torch.testing.assert_close(got[k], sd['backbone.' + k])
    # 7x7 pre-training grid interpolated to 8x8
    from semaim_mm.checkpoints import resize_pos_embed
    assert got['pos_embed'].shape == (1, 65, 128)
    torch.testing.assert_close(
        got['pos_embed'], resize_pos_embed(sd['backbone.pos_embed'], (8, 8)))


def test_only_documented_keys_left(mmseg_scope, semaim_ckpt):
    import re
    from semaim_mm.seg.backbone import SemAIMViTSeg
    path, _ = semaim_ckpt
    missing, unexpected = _seg_backbone(None).load_pretrained(path)
    assert missing == []
    assert sorted(unexpected) == ['ln1.bias', 'ln1.weight']
    assert all(any(re.match(p, k) for p in
                   SemAIMViTSeg.checkpoint_unused_keys) for k in unexpected)


def test_reference_and_backbone_formats(mmseg_scope, semaim_ckpt, tmp_path):
    from semaim_mm.checkpoints import semaim_to_backbone, semaim_to_reference
    path, sd = semaim_ckpt
    ref = tmp_path / 'ref.pth'
    torch.save(dict(model=semaim_to_reference(sd)), ref)
    m = _seg_backbone(None)
    assert m.load_pretrained(str(ref))[0] == []
    torch.testing.assert_close(m.state_dict()['layers.2.ln2.weight'],
                               sd['backbone.layers.2.ln2.weight'])
    bb = tmp_path / 'bb.pth'
    torch.save(dict(state_dict=semaim_to_backbone(sd, (8, 8))), bb)
    missing, unexpected = _seg_backbone(None).load_pretrained(str(bb))
    assert missing == [] and sorted(unexpected) == ['ln1.bias', 'ln1.weight']


def test_bad_checkpoints_are_errors(mmseg_scope, semaim_ckpt, tmp_path):
    path, sd = semaim_ckpt
    broken = {k: v for k, v in sd.items()
              if not k.startswith('backbone.layers.3.')}
    p = tmp_path / 'broken.pth'
    torch.save(dict(state_dict=broken), p)
    with pytest.raises(KeyError, match='layers.3'):
        _seg_backbone(None).load_pretrained(str(p))
    det = tmp_path / 'det.pth'
    torch.save(dict(state_dict={'backbone.conv1.weight': torch.zeros(1),
                                'roi_head.x': torch.zeros(1)}), det)
    with pytest.raises(ValueError, match='detector'):
        _seg_backbone(None).load_pretrained(str(det))


def test_authors_checkpoint_and_empty_path(mmseg_scope, semaim_reference):
    from mmseg.registry import MODELS

    from semaim_mm.checkpoints import load_encoder_state_dict
    path = osp.join(semaim_reference, 'main_pretrain_ddp.pth')
    cfg = dict(type='SemAIMViTSeg', arch=dict(
        embed_dims=64, num_layers=4, num_heads=2, feedforward_channels=256),
        img_size=224, patch_size=16, out_indices=(1, 3))
    m = MODELS.build(dict(cfg, init_cfg=dict(type='Pretrained',
                                             checkpoint=path)))
    m.init_weights()
    enc, _ = load_encoder_state_dict(path)
    got = m.state_dict()
    assert all(torch.equal(got[k], v) for k, v in enc.items() if k in got)
    assert set(enc) - set(got) == {'ln1.weight', 'ln1.bias'}  # final_norm off
    m = MODELS.build(dict(cfg, init_cfg=dict(type='Pretrained',
                                             checkpoint='')))
    with pytest.raises(FileNotFoundError,
                       match='model.backbone.init_cfg.checkpoint is empty'):
        m.init_weights()
