"""DINO / CLIP teachers: loaders reproduce the published models, targets,
loss, freezing, similarity and errors."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import nn

from semaim_mm.checkpoints.teachers import (load_teacher_state_dict,
                                            read_teacher_file)
from semaim_mm.checkpoints.torchscript_reader import \
    read_torchscript_state_dict
from semaim_mm.models.teachers import TeacherTargetGenerator
from .conftest import CLIP_ARCH, DINO_ARCH
from .published import (dino_vit, forward_features_clip,
                        forward_features_dino, randomize_,
                        save_dino_training_checkpoint)

ATOL = 2e-5


def dino_gen(path, **kw):
    kw.setdefault('arch', dict(DINO_ARCH))
    return MODELS.build(dict(type='DINOTargetGenerator', checkpoint=path,
                             **kw))


def clip_gen(path, **kw):
    kw.setdefault('arch', dict(CLIP_ARCH))
    return MODELS.build(dict(type='CLIPTargetGenerator', checkpoint=path,
                             **kw))


def images(b=2, size=28):
    return torch.randn(b, 3, size, size)


def float_clip(model):
    m = copy.deepcopy(model).float()  # what clip.load(jit=False) on CPU does
    from .published import convert_weights_copy
    for name, p in m.named_parameters():  # the fp16-rounded stored weights
        p.data = convert_weights_copy(model)[name].float()
    return m


# ------------------------------------------------------------- loaders
def test_dino_release_reproduces_dino(dino_file):
    path, model = dino_file
    gen = dino_gen(path)
    x = images()
    ref = forward_features_dino(model, x)
    assert torch.allclose(gen.tokens(x), ref, atol=ATOL)
    assert torch.allclose(gen.tokens(x),
                          model.get_intermediate_layers(x, 1)[0], atol=ATOL)
    t = gen(x)
    assert t.shape == (2, 16, 64) and gen.target_dim == 64
    assert torch.allclose(t, ref[:, 1:], atol=ATOL)


def test_dino_training_checkpoint(dino_file, tmp_path):
    path, model = dino_file
    ckpt = str(tmp_path / 'checkpoint.pth')
    save_dino_training_checkpoint(model, ckpt)
    x = images()
    assert torch.allclose(dino_gen(ckpt).tokens(x),
                          forward_features_dino(model, x), atol=ATOL)


def test_timm_safetensors_and_pth(tmp_path):
    from safetensors.torch import save_file
    from timm.models.vision_transformer import VisionTransformer
    vit = randomize_(VisionTransformer(
        img_size=28, patch_size=7, embed_dim=64, depth=2, num_heads=2,
        num_classes=0), seed=3).eval()
    x = images()
    ref = vit.forward_features(x)
    save_file(vit.state_dict(), str(tmp_path / 'model.safetensors'))
    torch.save({'state_dict': vit.state_dict(), 'epoch': 3},
               str(tmp_path / 'timm.pth'))  # timm CheckpointSaver layout
    for name in ('model.safetensors', 'timm.pth'):
        gen = dino_gen(str(tmp_path / name))
        assert torch.allclose(gen.tokens(x), ref, atol=ATOL)


def test_openai_jit_read_without_code_equals_jit_load(clip_file):
    path, _ = clip_file
    ours = read_torchscript_state_dict(path)
    ref = torch.jit.load(path, map_location='cpu').state_dict()
    assert list(ours) == list(ref)
    for k in ref:
        assert ours[k].dtype == ref[k].dtype and torch.equal(ours[k], ref[k])
    assert ref['visual.proj'].dtype == torch.float16  # as OpenAI ships it


def test_openai_jit_refuses_foreign_globals(tmp_path):
    import pickle
    import zipfile

    class Evil:

        def __reduce__(self):
            return (print, ('pwned', ))

    path = str(tmp_path / 'evil.pt')
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr('evil/data.pkl', pickle.dumps(Evil(), protocol=2))
        zf.writestr('evil/code/__torch__.py', 'class A(Module):\n  pass\n')
    with pytest.raises(pickle.UnpicklingError, match='print.*weights-only'):
        read_torchscript_state_dict(path)


def test_openai_jit_reproduces_clip(clip_file):
    path, model = clip_file
    ref_model = float_clip(model)
    x = images()
    ref = forward_features_clip(ref_model.visual, x)
    for trusted in (False, True):
        gen = clip_gen(path, trusted=trusted)
        tokens = gen.tokens(x)
        assert tokens.shape == (2, 17, 32) and gen.target_dim == 32
        assert torch.allclose(tokens, ref, atol=ATOL)
    assert torch.allclose(tokens[:, 0], ref_model.encode_image(x),
                          atol=ATOL)


def test_clip_matches_mmpretrain_clip_tower(clip_file):
    from mmpretrain.models.utils import build_clip_model
    path, _ = clip_file
    sd = {k: v.float() for k, v in read_teacher_file(path).items()}
    mm = build_clip_model(sd).float().eval()
    x = images()
    ref, _ = mm.visual(x)
    assert torch.allclose(clip_gen(path).tokens(x), ref, atol=ATOL)


@pytest.mark.parametrize('layout', ['plain', 'training'])
def test_open_clip_state_dicts(tmp_path, layout):
    open_clip = pytest.importorskip('open_clip')
    model = open_clip.model.CLIP(
        32, open_clip.model.CLIPVisionCfg(layers=2, width=64, patch_size=7,
                                          image_size=28, head_width=64),
        open_clip.model.CLIPTextCfg(context_length=8, vocab_size=50,
                                    width=32, heads=2, layers=1),
        quick_gelu=True)
    model = randomize_(model, seed=4).eval()
    path = str(tmp_path / 'open_clip.pt')
    sd = model.state_dict()
    if layout == 'plain':  # open_clip_pytorch_model.bin
        torch.save(sd, path)
    else:  # open_clip training/main.py checkpoint (DDP-wrapped model)
        torch.save({'epoch': 1, 'name': 'run', 'state_dict': {
            'module.' + k: v for k, v in sd.items()}}, path)
    x = images()
    model.visual.output_tokens = True
    pooled, tokens = model.visual(x)
    ours = clip_gen(path).tokens(x)
    assert torch.allclose(ours[:, 0], pooled, atol=ATOL)
    assert torch.allclose(ours[:, 1:], tokens @ model.visual.proj, atol=ATOL)


def test_timm_clip_safetensors(clip_file, tmp_path):
    from safetensors.torch import save_file
    from timm.models.vision_transformer import VisionTransformer
    vit = VisionTransformer(img_size=28, patch_size=7, embed_dim=64, depth=2,
                            num_heads=1, pre_norm=True,
                            norm_layer=nn.LayerNorm, act_layer='quick_gelu',
                            num_classes=32, global_pool='')
    vit = randomize_(vit, seed=5).eval()
    nn.init.zeros_(vit.head.bias)
    save_file(vit.state_dict(), str(tmp_path / 'model.safetensors'))
    x = images()
    assert torch.allclose(clip_gen(str(tmp_path / 'model.safetensors'))
                          .tokens(x), vit(x), atol=ATOL)


# ----------------------------------------------------- errors, no fallback
def test_missing_file_and_no_path():
    with pytest.raises(FileNotFoundError, match='docs/teachers.md'):
        dino_gen('checkpoints/nope.pth')
    with pytest.raises(ValueError, match='random teacher is never used'):
        MODELS.build(dict(type='CLIPTargetGenerator'))


def test_wrong_format(dino_file, clip_file, tmp_path):
    with pytest.raises(ValueError, match='not a CLIP teacher.*OpenAI CLIP'):
        clip_gen(dino_file[0])
    with pytest.raises(ValueError, match='not a DINO teacher'):
        dino_gen(clip_file[0])
    junk = tmp_path / 'junk.pth'
    junk.write_bytes(b'not a checkpoint at all')
    with pytest.raises(ValueError, match='cannot read teacher checkpoint'):
        dino_gen(str(junk))
    other = tmp_path / 'classifier.pth'
    torch.save({'state_dict': {'backbone.layers.0.ln1.weight':
                               torch.ones(4)}}, str(other))
    with pytest.raises(ValueError, match='Expected DINO'):
        dino_gen(str(other))


def test_wrong_width(dino_file, clip_file):
    with pytest.raises(ValueError, match='embed_dims=64, the config '
                       'expects 768'):
        MODELS.build(dict(type='DINOTargetGenerator',
                          checkpoint=dino_file[0], arch='base'))
    with pytest.raises(ValueError, match='out_dims=32, the config expects'):
        clip_gen(clip_file[0], arch=dict(CLIP_ARCH, out_dims=512))


# ------------------------------------------------- targets and the loss
def test_grid_interpolation_and_rejection(dino_file):
    path, model = dino_file
    x = images()
    gen = dino_gen(path, student_patch_size=4)  # 7x7 student vs 4x4 teacher
    t = gen(x)
    assert t.shape == (2, 49, 64)
    ref = forward_features_dino(model, x)[:, 1:]
    ref = F.interpolate(ref.transpose(1, 2).reshape(2, 64, 4, 4), (7, 7),
                        mode='bilinear', align_corners=False)
    assert torch.allclose(t, ref.flatten(2).transpose(1, 2), atol=ATOL)
    with pytest.raises(ValueError, match="differs from the student's"):
        dino_gen(path, student_patch_size=4, grid_mismatch='error')(x)


def test_cosine_loss_is_two_minus_two_cos():
    loss = MODELS.build(dict(type='CosineSimilarityLoss', shift_factor=2.0,
                             scale_factor=2.0))
    pred, target = torch.randn(2, 16, 32), torch.randn(2, 16, 32) * 5
    cos = (pred * target).sum(-1) / (pred.norm(dim=-1) *
                                     target.norm(dim=-1))
    assert torch.allclose(loss(pred, target), (2 - 2 * cos).mean())
    # the reference code's form: squared distance of L2-normalised vectors
    ref = ((F.normalize(pred, dim=-1) -
            F.normalize(target, dim=-1))**2).sum(-1).mean()
    assert torch.allclose(loss(pred, target), ref, atol=1e-6)
    assert torch.allclose(loss(pred, target * 3.7), loss(pred, target))


def test_autocast_runs_in_training_dtype(dino_file):
    gen = dino_gen(dino_file[0])
    x = images()
    seen = []
    gen.teacher.vit.blocks[0].attn.qkv.register_forward_hook(
        lambda m, i, o: seen.append(o.dtype))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        t = gen(x)
    assert seen == [torch.bfloat16]  # the teacher's matmuls ran in bf16
    assert torch.allclose(t.float(), gen(x), atol=0.1)


# ------------------------------------------------- inside SemAIM
def tiny_semaim(gen_cfg, **kw):
    return MODELS.build(dict(
        type='SemAIM',
        backbone=dict(type='SemAIMViT', arch=dict(
            embed_dims=32, num_layers=2, num_heads=2,
            feedforward_channels=64), img_size=28, patch_size=7),
        neck=dict(type='SemAIMDecoder', num_heads=2, depth=2),
        head=dict(type='SemAIMHead', embed_dims=32, loss=dict(
            type='CosineSimilarityLoss', shift_factor=2.0,
            scale_factor=2.0)),
        target_generator=gen_cfg, **kw))


@pytest.mark.parametrize('kind', ['dino', 'clip'])
def test_frozen_shared_pass_and_teacher_similarity(kind, dino_file,
                                                   clip_file):
    path = (dino_file if kind == 'dino' else clip_file)[0]
    arch = DINO_ARCH if kind == 'dino' else CLIP_ARCH
    model = tiny_semaim(dict(type='TeacherTargetGenerator', kind=kind,
                             checkpoint=path, arch=dict(arch)),
                        similarity_source='teacher')
    gen = model.target_generator
    teacher = gen.teacher
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    model.train()
    assert not gen.training and not teacher.training
    assert all(not p.requires_grad for p in teacher.parameters())
    own = {id(p) for p in model.parameters()}
    assert not any(id(p) in own for p in teacher.parameters())
    assert [k for k in model.state_dict() if k.startswith(
        'target_generator')] == ['target_generator.teacher_digest']
    calls = []
    teacher.register_forward_hook(lambda *a: calls.append(1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(2):
        x = images(4)
        losses = model.loss(x)
        opt.zero_grad()
        losses['loss'].backward()
        opt.step()
    assert len(calls) == 2  # one teacher pass per step: order + targets
    assert all(p.grad is None for p in teacher.parameters())
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before[k])
    assert 0 <= losses['loss'].item() <= 4
    # the order's similarity map is the teacher's CLS-vs-patch softmax
    tokens = gen.tokens(x).float()
    cos = F.cosine_similarity(tokens[:, :1], tokens[:, 1:], dim=-1)
    assert torch.allclose(model.similarity(x), cos.softmax(-1), atol=1e-6)
    # and no student pass happens for it
    model.backbone.forward_tokens = None
    model.similarity(x)


def test_cache_does_not_go_stale(dino_file):
    gen = dino_gen(dino_file[0])
    x = images()
    a = gen(x)
    x.add_(1.0)  # in-place change bumps the version
    assert not torch.allclose(gen(x), a)
    y = x.clone()
    assert torch.equal(gen(y), gen(x))


def test_teacher_similarity_needs_a_teacher():
    with pytest.raises(ValueError, match='needs a teacher'):
        tiny_semaim(None, similarity_source='teacher')


def test_digest_guards_resume(dino_file, tmp_path):
    path, model = dino_file
    a = tiny_semaim(dict(type='DINOTargetGenerator', checkpoint=path,
                         arch=dict(DINO_ARCH)))
    state = a.state_dict()
    b = tiny_semaim(dict(type='DINOTargetGenerator', checkpoint=path,
                         arch=dict(DINO_ARCH)))
    b.load_state_dict(state)  # same teacher: fine, strict
    del state['target_generator.teacher_digest']
    b.load_state_dict(state)  # older checkpoint without digest: fine
    other = copy.deepcopy(model)
    randomize_(other, seed=9)
    other_path = str(tmp_path / 'other.pth')
    torch.save(other.state_dict(), other_path)
    c = tiny_semaim(dict(type='DINOTargetGenerator', checkpoint=other_path,
                         arch=dict(DINO_ARCH)))
    with pytest.raises(ValueError, match='different DINO teacher'):
        c.load_state_dict(a.state_dict())


# ------------------------------------------------------------- configs
@pytest.mark.parametrize('kind', ['dino', 'clip'])
def test_teacher_configs(kind, dino_file, clip_file, repo_root):
    import os.path as osp
    from mmengine.config import Config
    path = (dino_file if kind == 'dino' else clip_file)[0]
    tiny = Config.fromfile(osp.join(
        repo_root, f'configs/pretrain/semaim_vit-tiny-p4_fashion-mnist_'
        f'{kind}.py'))
    tiny.model.target_generator.checkpoint = path
    model = MODELS.build(tiny.model)
    assert model.similarity_source == 'teacher'
    assert model.target_generator.student_patch_size == 4
    assert model.head.mlp.fc2.out_features == model.target_generator.target_dim
    losses = model.loss(images(2))
    assert torch.isfinite(losses['loss'])
    for name in ([f'semaim_vitb_{kind}_800e.py'] +
                 (['semaim_vitl_clip_800e.py'] if kind == 'clip' else [])):
        cfg = Config.fromfile(osp.join(repo_root, 'configs/pretrain', name))
        gen = cfg.model.target_generator
        assert gen.arch == 'base' and gen.checkpoint.startswith(
            'checkpoints/')
        assert cfg.model.similarity_source == 'teacher'
        assert cfg.model.head.loss == dict(
            type='CosineSimilarityLoss', shift_factor=2.0, scale_factor=2.0)
        with pytest.raises(FileNotFoundError, match='docs/teachers.md'):
            MODELS.build(gen)
