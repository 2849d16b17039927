"""A detection backbone state dict saved by the code before SemAIMViTDet
became a SemAIMViT (``fixtures/vitdet_backbone_46f451b.pth``: main @ 46f451b, a
4-block width-16 multilevel backbone with perturbed weights, non-zero
relative tables and a LayerNorm2d pyramid level) loads strictly into today's
class and computes the same pyramid."""
import os.path as osp

import torch

from fp32_tolerance import assert_close_across_hosts
from semaim_mm.det import SemAIMViTDet

FIXTURE = osp.join(osp.dirname(__file__), 'fixtures',
                   'vitdet_backbone_46f451b.pth')
# The outputs were stored on an Intel host. The chain of products: the
# 16x16x3 patch embedding, 4 blocks (qkv 16, scores 8 per head, scores @ v
# over at most 24 tokens, proj 16, fc1 16, fc2 32) and two 2x2 pyramid
# deconvolutions (stride 2, kernel 2: one tap per output, 16 channels).
REDUCTIONS = [3 * 16 * 16] + 4 * [16, 8, 24, 16, 16, 32] + 2 * [16]


def test_old_det_backbone_checkpoint_loads_and_matches():
    blob = torch.load(FIXTURE, map_location='cpu', weights_only=True)
    model = SemAIMViTDet(**blob['config'])
    assert sorted(model.state_dict()) == sorted(blob['state_dict'])
    model.load_state_dict(blob['state_dict'], strict=True)
    x = torch.randn(*blob['input_shape'],
                    generator=torch.Generator().manual_seed(
                        blob['input_seed']))
    with torch.no_grad():
        outs = model.eval()(x)
    assert len(outs) == len(blob['outputs']) == 4
    for out, ref in zip(outs, blob['outputs']):
        assert_close_across_hosts(out, ref, REDUCTIONS)


def test_authors_checkpoint_initialises_the_detector(semaim_reference):
    """The authors' util/misc.py checkpoint (Namespace layout), converted on
    the fly; only the documented new keys are random."""
    import re

    from semaim_mm.checkpoints import load_encoder_state_dict
    from semaim_mm.det import is_new_key
    path = osp.join(semaim_reference, 'misc_save_model.pth')
    model = SemAIMViTDet(
        arch=dict(embed_dims=64, num_layers=4, num_heads=2,
                  feedforward_channels=256),
        img_size=256, pretrain_img_size=224, patch_size=16, window_size=4,
        init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    enc, kind = load_encoder_state_dict(path)
    assert kind == 'reference'
    own = model.state_dict()
    for key, value in enc.items():
        if key != 'cls_token':
            assert torch.equal(own[key], value), key
    new, unused = model.load_pretrained(path)
    assert new and all(map(is_new_key, new)) and unused == []
    assert any(re.search('rel_pos_h', k) for k in new)
