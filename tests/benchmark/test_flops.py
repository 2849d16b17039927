"""FLOP counting of semaim_mm.profiling.flops against hand counts and torch's
FlopCounterMode."""
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from semaim_mm.profiling import benchmark as bm
from semaim_mm.profiling import flops as fl
from .helpers import images, tiny_semaim


def test_encoder_block_hand_count():
    # tokens 5, width 8, MLP 16: qkv 2*5*8*24, proj 2*5*8*8, fc1 and fc2
    # 2*5*8*16 each, attention QK^T + AV 2 * 2*pairs*8.
    matmuls = 1920 + 640 + 1280 + 1280
    assert fl.encoder_block_flops(5, 8, 16) == matmuls + 4 * 25 * 8
    # causal: 5*6/2 = 15 (query, key) pairs
    assert fl.encoder_block_flops(5, 8, 16, fl.causal_pairs(5)) == \
        matmuls + 4 * 15 * 8


def test_decoder_block_hand_count():
    # 4 queries, 5 keys, width 8, MLP 32: q 2*4*8*8, k and v 2*5*8*8 each,
    # proj 2*4*8*8, fc1/fc2 2*4*8*32 each, attention 4*pairs*8.
    matmuls = 512 + 2 * 640 + 512 + 2 * 2048
    assert fl.decoder_block_flops(4, 5, 8, 32) == matmuls + 4 * 20 * 8
    # 4 keys: k and v cost 2*4*8*8 each; causal 4*5/2 = 10 pairs
    matmuls4 = 512 + 2 * 512 + 512 + 2 * 2048
    assert fl.decoder_block_flops(4, 4, 8, 32, fl.causal_pairs(4)) == \
        matmuls4 + 4 * 10 * 8


def test_step_total_is_sum_and_backward_twice():
    f = fl.semaim_step_flops(16, 48, 32, 64, 4, 32, 64, 2, 4, 128, 48,
                             path='fast', blur_flops=7)
    assert f['backward'] == 2 * (f['encoder'] + f['decoder'] + f['head'])
    assert f['total'] == sum(v for k, v in f.items() if k != 'total')
    assert f['targets'] == 7
    ref = fl.semaim_step_flops(16, 48, 32, 64, 4, 32, 64, 2, 4, 128, 48,
                               path='reference', blur_flops=7)
    assert ref['total'] > f['total']  # full masks vs causal lower triangle
    assert ref['similarity'] == f['similarity']


def test_reference_path_matches_flop_counter_mode():
    """On the reference path every (query, key) pair is a real matmul, so
    torch's FlopCounterMode must agree with the analytic count exactly."""
    model = tiny_semaim(img_size=32, patch_size=8, depth=4, decoder_depth=2,
                        attention_path='reference').eval()
    batch, x = 2, images(2, (32, 32))
    flops = fl.model_step_flops(model, (32, 32))
    with torch.no_grad():
        permutation = model.make_permutation(x)
        # the math SDPA backend is plain bmm's, which the counter sees (it
        # does not count the fused CPU kernel); the cosine einsum adds
        # 2 * N * D per image.
        with sdpa_kernel(SDPBackend.MATH), \
                FlopCounterMode(display=False) as fc:
            model.similarity(x)
        assert fc.get_total_flops() == batch * (
            flops['similarity'] + 2 * 16 * 32)
        with FlopCounterMode(display=False) as fc:
            model.predict_patches(x, model.attention_for(permutation))
        assert fc.get_total_flops() == batch * (
            flops['encoder'] + flops['decoder'] + flops['head'])
        # the whole step with that order: + the target blur (a conv)
        with FlopCounterMode(display=False) as fc:
            model.loss(x, permutation=permutation)
        assert fc.get_total_flops() == batch * (
            flops['targets'] + flops['encoder'] + flops['decoder']
            + flops['head'])


def test_mae_forward_matches_flop_counter_mode():
    """mmpretrain's MAE counted with the same rules: its forward under
    FlopCounterMode (math SDPA, plain bmm's) equals the analytic count."""
    from mmengine.config import Config
    cfg = Config(dict(model=dict(backbone=dict(
        arch=dict(embed_dims=32, num_layers=2, num_heads=4,
                  feedforward_channels=64), patch_size=8))))
    torch.manual_seed(0)
    model = bm.build_mae(cfg, 32).eval()
    flops = fl.mae_model_step_flops(model, (32, 32))
    # 16 patches, 4 kept + CLS in the encoder; decoder 512 wide on 17 tokens
    assert flops['encoder'] == fl.linear_flops(16, 192, 32) + 2 * \
        fl.encoder_block_flops(5, 32, 64)
    assert flops['backward'] == 2 * (flops['encoder'] + flops['decoder'])
    x = images(2, (32, 32))
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), \
            FlopCounterMode(display=False) as fc:
        model.loss(x, [])
    assert fc.get_total_flops() == 2 * (flops['encoder'] + flops['decoder'])


def test_classifier_forward_matches_flop_counter_mode():
    """The fine-tuning classifier (SemAIMViT backbone, GAP, linear head)
    counted with the same rules: its forward under FlopCounterMode (math
    SDPA) equals the analytic count, and step_flops picks that rule."""
    from mmpretrain.registry import MODELS
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='SemAIMViT',
                      arch=dict(embed_dims=32, num_layers=2, num_heads=4,
                                feedforward_channels=64),
                      img_size=32, patch_size=8, out_type='avg_featmap',
                      final_norm=False),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=32))).eval()
    flops = fl.step_flops(model, (32, 32))
    assert flops == fl.classifier_model_step_flops(model, (32, 32))
    # 16 patches + CLS through 2 blocks; the head on one pooled token
    assert flops['encoder'] == fl.linear_flops(16, 192, 32) + 2 * \
        fl.encoder_block_flops(17, 32, 64)
    assert flops['head'] == fl.linear_flops(1, 32, 10)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), \
            FlopCounterMode(display=False) as fc:
        model(images(2, (32, 32)), mode='tensor')
    assert fc.get_total_flops() == 2 * (flops['encoder'] + flops['head'])
    assert fl.step_flops(torch.nn.Linear(2, 2), (32, 32)) is None
