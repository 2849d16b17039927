"""Checkpoint converters: bit-exact round trips, and a converted encoder loads
into mmpretrain's VisionTransformer and computes the same features."""
import pytest
import torch
from mmpretrain.models import VisionTransformer

from fp32_tolerance import assert_close_across_hosts
from semaim_mm.checkpoints import (detect_format, mm_vit_to_timm,
                                   read_checkpoint, reference_to_semaim,
                                   semaim_to_backbone, semaim_to_reference,
                                   state_dict_of, timm_vit_to_mm)

from .helpers import images, tiny_semaim


def randomised(sd):
    """Random weights; the authors' blur buffer stays the Gaussian kernel."""
    g = torch.Generator().manual_seed(3)
    return {k: v if k == 'gaussian_blur.weight' else
            torch.randn(v.shape, generator=g) for k, v in sd.items()}


def test_reference_round_trip_is_bit_exact():
    model = tiny_semaim(32, 8, decoder_depth=2)
    ref = randomised(semaim_to_reference(model.state_dict()))
    assert detect_format(ref) == 'reference'
    assert any(k.startswith('query_blocks.0.attn.q.') for k in ref)
    assert 'norm.weight' in ref and 'prediction_head.fc1.weight' in ref
    ours = reference_to_semaim(ref)
    assert detect_format(ours) == 'semaim'
    # Loads into the model with nothing missing or unexpected.
    missing, unexpected = model.load_state_dict(ours, strict=False)
    assert not unexpected
    assert all(k.startswith('target_generator') for k in missing) or \
        not missing
    back = semaim_to_reference(ours)
    assert back.keys() == ref.keys()
    assert all(torch.equal(back[k], ref[k]) for k in ref)
    # The shared reference norm feeds both of our norms.
    assert torch.equal(ours['backbone.ln1.weight'], ref['norm.weight'])
    assert torch.equal(ours['head.norm.weight'], ref['norm.weight'])


def test_semaim_round_trip_keeps_all_but_the_documented_norm():
    model = tiny_semaim(32, 8, decoder_depth=3)
    sd = randomised(model.state_dict())
    back = reference_to_semaim(semaim_to_reference(sd))
    assert back.keys() == sd.keys()
    for k in sd:
        if k.startswith('backbone.ln1.'):
            assert torch.equal(back[k], sd['head.norm.' + k[13:]])
        else:
            assert torch.equal(back[k], sd[k]), k


def test_timm_names_round_trip():
    model = tiny_semaim(32, 8)
    enc = {k[9:]: v for k, v in model.state_dict().items()
           if k.startswith('backbone.')}
    timm_sd = mm_vit_to_timm(enc)
    assert 'blocks.0.mlp.fc1.weight' in timm_sd
    assert 'patch_embed.proj.weight' in timm_sd
    back = timm_vit_to_mm(timm_sd)
    assert back.keys() == enc.keys()
    assert all(torch.equal(back[k], enc[k]) for k in enc)


def vit_like(model, **kwargs):
    bb = model.backbone
    return VisionTransformer(
        arch=dict(embed_dims=bb.embed_dims, num_layers=bb.num_layers,
                  num_heads=4, feedforward_channels=2 * bb.embed_dims),
        img_size=32, patch_size=8, norm_cfg=dict(type='LN', eps=1e-6),
        **kwargs)


def test_backbone_loads_into_vision_transformer_with_same_features(tmp_path):
    model = tiny_semaim(32, 8).eval()
    sd = semaim_to_backbone(model.state_dict())
    vit = vit_like(model, out_type='raw')
    vit.eval()  # mmpretrain's train() returns None: no chaining
    vit.load_state_dict(sd, strict=True)  # no missing or unexpected key
    x = images(2, (32, 32))
    with torch.no_grad():
        ours = model.backbone.forward_tokens(x)
        theirs = vit(x)[-1]
    # Two implementations (our blocks, mmpretrain's) sum in other orders:
    # the 8x8x3 patch embedding, 4 blocks (qkv 32, scores 8 per head,
    # scores @ v over 17 tokens, proj 32, fc1 32, fc2 64).
    assert_close_across_hosts(ours, theirs,
                              [3 * 8 * 8] + 4 * [32, 8, 17, 32, 32, 64])


def test_pretrained_init_cfg_from_a_training_checkpoint(tmp_path):
    """mmpretrain's Pretrained init with prefix='backbone.' reads our
    mmengine checkpoint (weights_only loading through the compat
    allow-list); the only missing key with GAP is the documented ln2."""
    import numpy as np
    from mmengine.logging import MessageHub
    model = tiny_semaim(32, 8)
    hub = MessageHub.get_instance('ckpt_test')
    hub.update_scalar('train/loss', 1.0)
    path = tmp_path / 'epoch_1.pth'
    torch.save(dict(meta=dict(epoch=1, seed=np.int64(0)),
                    state_dict=model.state_dict(),
                    message_hub=hub.state_dict()), path)
    assert detect_format(state_dict_of(read_checkpoint(str(path)))) == 'semaim'
    vit = vit_like(model, out_type='avg_featmap', final_norm=False,
                   init_cfg=dict(type='Pretrained', checkpoint=str(path),
                                 prefix='backbone.'))
    vit.init_weights()
    torch.testing.assert_close(
        vit.layers[0].attn.qkv.weight,
        model.backbone.layers[0].attn.qkv.weight)
    sd = semaim_to_backbone(model.state_dict())
    result = vit.load_state_dict(sd, strict=False)
    assert result.missing_keys == ['ln2.weight', 'ln2.bias']
    assert result.unexpected_keys == ['ln1.weight', 'ln1.bias']


def test_pos_embed_interpolation_and_wrong_kind():
    model = tiny_semaim(32, 8)
    sd = semaim_to_backbone(model.state_dict(), new_grid=(6, 8))
    assert sd['pos_embed'].shape == (1, 1 + 48, 32)
    torch.testing.assert_close(sd['pos_embed'][:, 0],
                               model.backbone.pos_embed[:, 0])
    detector = {'backbone.layers.0.ln1.weight': torch.ones(1),
                'roi_head.bbox_head.fc_cls.weight': torch.ones(1)}
    with pytest.raises(ValueError, match="got a 'detector' one"):
        semaim_to_backbone(detector)
