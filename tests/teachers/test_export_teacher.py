"""tools/model_converters/export_teacher.py writes files the teacher loader
reads: a trained tiny ViT as DINO (same outputs), random tiny DINO / CLIP."""
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

from semaim_mm.checkpoints.teachers import load_teacher_state_dict
from semaim_mm.models.teachers import TeacherViT

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'model_converters'))
TINY = osp.join(ROOT, 'configs/pretrain/semaim_vit-tiny-p4_fashion-mnist.py')


def test_trained_vit_exports_as_dino_with_the_same_outputs(tmp_path,
                                                           capsys):
    import export_teacher
    cfg = Config.fromfile(TINY)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():  # every weight matters, LayerNorms included
        for p in model.backbone.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    ckpt, out = tmp_path / 'iter_1.pth', str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    export_teacher.main(['dino', out, '--checkpoint', str(ckpt),
                         '--num-heads', '4'])
    printed = capsys.readouterr().out
    assert 'model.target_generator.arch.embed_dims=128' in printed
    assert 'arch.num_layers=6' in printed and 'arch.patch_size=4' in printed
    teacher = TeacherViT('dino', 128, 6, 4, 4, 28)
    teacher.load_teacher_state_dict(load_teacher_state_dict(out, 'dino'))
    from mmpretrain.models import VisionTransformer
    vit = VisionTransformer(arch=dict(embed_dims=128, num_layers=6,
                                      num_heads=4,
                                      feedforward_channels=512),
                            img_size=28, patch_size=4, out_type='raw')
    sd = {k[len('backbone.'):]: v for k, v in model.state_dict().items()
          if k.startswith('backbone.')}
    vit.load_state_dict(sd, strict=False)
    teacher.eval()
    vit.eval()
    x = torch.randn(2, 3, 28, 28)
    with torch.no_grad():
        assert torch.allclose(teacher(x), vit(x)[-1], atol=1e-5)


@pytest.mark.parametrize('kind,name', [('dino', 'tiny_dino_vit_p7_28.pth'),
                                       ('clip', 'tiny_clip_vit_p7_28.pt')])
def test_random_tiny_teachers_load(tmp_path, kind, name):
    import export_teacher
    out = str(tmp_path / name)
    export_teacher.main([kind, out, '--random'])
    sd = load_teacher_state_dict(out, kind)
    arch = Config.fromfile(osp.join(
        ROOT, f'configs/pretrain/semaim_vit-tiny-p4_fashion-mnist_{kind}.py'
    )).model.target_generator.arch
    assert sd['cls_token'].shape[-1] == arch.embed_dims
    assert sd['patch_embed.proj.weight'].shape[-1] == arch.patch_size
    if kind == 'clip':
        assert sd['proj'].shape == (arch.embed_dims, arch.out_dims)


def test_trained_vit_is_not_exported_as_clip(tmp_path):
    import export_teacher
    with pytest.raises(SystemExit):
        export_teacher.main(['clip', str(tmp_path / 'x.pt'), '--checkpoint',
                             str(tmp_path / 'y.pth')])
