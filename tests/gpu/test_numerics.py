"""What SemAIM keeps in fp32 under autocast, checked under CPU bf16 autocast
(the same dispatch rules as CUDA autocast for these ops): the similarity
map's cosine and normalisation, the RGB targets, and the loss against them.
Each must equal its fp32 computation bit for bit."""
import pytest
import torch
import torch.nn.functional as F

from semaim_mm.models.orders import similarity_map
from semaim_mm.models.targets import RGBTargetGenerator
from models.helpers import images, tiny_semaim

BF16 = dict(device_type='cpu', dtype=torch.bfloat16)


def test_similarity_map_is_fp32_under_autocast():
    # cosines close to 1, where bf16 steps (~0.004) would create ties
    g = torch.Generator().manual_seed(0)
    base = torch.randn(2, 1, 64, generator=g)
    tokens = base + 1e-3 * torch.randn(2, 17, 64, generator=g)
    fp32 = similarity_map(tokens)
    with torch.autocast(**BF16):
        got = similarity_map(tokens)
        from_bf16 = similarity_map(tokens.bfloat16())
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, fp32, rtol=0, atol=0)
    # bf16 tokens (an autocast encoder pass): the map of their fp32 values
    torch.testing.assert_close(
        from_bf16, similarity_map(tokens.bfloat16().float()),
        rtol=0, atol=0)


def test_model_similarity_map_is_fp32_under_autocast():
    """Without ``similarity_fp32`` only the encoder pass runs in bf16: the
    map is fp32 and equals the fp32 map of that pass's tokens."""
    model = tiny_semaim(32, 8)
    x = images(2, (32, 32))
    with torch.autocast(**BF16):
        got = model.similarity(x)
        tokens = model.backbone.forward_tokens(x)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, similarity_map(tokens), rtol=0, atol=0)
    assert not torch.equal(tokens, model.backbone.forward_tokens(x))


@pytest.mark.parametrize('blur', [9, 0])
def test_rgb_targets_are_fp32_under_autocast(blur):
    gen = RGBTargetGenerator(patch_size=8, blur_kernel=blur)
    x = images(2, (32, 32))
    fp32 = gen(x)
    with torch.autocast(**BF16):
        got = gen(x)
        from_bf16 = gen(x.bfloat16())
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, fp32, rtol=0, atol=0)
    torch.testing.assert_close(from_bf16, gen(x.bfloat16().float()),
                               rtol=0, atol=0)


def test_loss_against_fp32_targets_under_autocast():
    """A bf16 prediction is compared with the fp32 target in fp32: the
    target is never rounded to bf16."""
    model = tiny_semaim(32, 8)
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(2, 16, 192, generator=g).bfloat16()
    target = torch.randn(2, 16, 192, generator=g)
    with torch.autocast(**BF16):
        got = model.head.loss(pred, target)
    assert got.dtype == torch.float32
    want = model.head.loss_module(pred.float(), target)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    rounded = model.head.loss_module(pred.float(), target.bfloat16().float())
    assert got != rounded


def test_training_step_targets_are_fp32_under_autocast():
    """In a whole step under autocast the head sees fp32 targets."""
    model = tiny_semaim(32, 8)
    seen = []
    loss = model.head.loss

    def spy(pred, target):
        seen.append(target.dtype)
        return loss(pred, target)

    model.head.loss = spy
    with torch.autocast(**BF16):
        out = model.loss(images(2, (32, 32)))['loss']
    assert seen == [torch.float32] and out.dtype == torch.float32


def test_similarity_and_targets_run_without_tf32(monkeypatch):
    """On Ampere+ GPUs cuDNN runs fp32 convolutions in TF32 by default and
    the tools allow TF32 matmuls: the blur and the cosine must see IEEE
    fp32 (checked through the flags each op runs under), and the flags
    come back afterwards."""
    seen = {}

    def recording(name, fn):
        def wrapper(*args, **kwargs):
            seen[name] = (torch.backends.cuda.matmul.fp32_precision,
                          torch.backends.cudnn.conv.fp32_precision)
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(F, 'conv2d', recording('conv2d', F.conv2d))
    monkeypatch.setattr(torch, 'einsum', recording('einsum', torch.einsum))
    before = (torch.backends.cuda.matmul.fp32_precision,
              torch.backends.cudnn.conv.fp32_precision)
    RGBTargetGenerator(patch_size=4, blur_kernel=3)(torch.randn(1, 3, 8, 8))
    similarity_map(torch.randn(2, 5, 8))
    assert seen == {'conv2d': ('ieee', 'ieee'), 'einsum': ('ieee', 'ieee')}
    assert (torch.backends.cuda.matmul.fp32_precision,
            torch.backends.cudnn.conv.fp32_precision) == before


def test_tools_allow_tf32_only_with_cuda(monkeypatch):
    from semaim_mm.engine.runner import allow_tf32
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    old = matmul.fp32_precision, conv.fp32_precision
    try:
        monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
        assert not allow_tf32() and matmul.fp32_precision == old[0]
        monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
        assert allow_tf32()
        assert (matmul.fp32_precision, conv.fp32_precision) == ('tf32',
                                                                'tf32')
    finally:
        matmul.fp32_precision, conv.fp32_precision = old
