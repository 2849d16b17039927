"""A few iterations of tools/train.py with each teacher on Fashion-MNIST, then
a resume: the teacher stays frozen, identical and out of the checkpoint."""
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS

from semaim_mm.checkpoints.teachers import load_teacher_state_dict

CONFIGS = {
    'dino': 'configs/pretrain/semaim_vit-tiny-p4_fashion-mnist_dino.py',
    'clip': 'configs/pretrain/semaim_vit-tiny-p4_fashion-mnist_clip.py',
}


def train(repo_root, env, config, work_dir, teacher, iters, resume=False):
    cmd = [
        sys.executable, 'tools/train.py', config, '--work-dir', work_dir,
        '--cfg-options', f'model.target_generator.checkpoint={teacher}',
        f'train_cfg.max_iters={iters}', 'train_dataloader.batch_size=8',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=2'
    ] + (['--resume'] if resume else [])
    out = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


@pytest.mark.slow  # ~1 min per teacher on a shared 2-core CPU
@pytest.mark.parametrize('kind', ['dino', 'clip'])
def test_train_and_resume_with_teacher(kind, dino_file, clip_file, tmp_path,
                                       repo_root, python_env):
    teacher = (dino_file if kind == 'dino' else clip_file)[0]
    work = str(tmp_path / 'work')
    log = train(repo_root, python_env, CONFIGS[kind], work, teacher, 2)
    assert 'teacher loaded from' in log and 'loss: ' in log
    ckpt = torch.load(osp.join(work, 'iter_2.pth'), map_location='cpu',
                      weights_only=True)
    keys = [k for k in ckpt['state_dict'] if k.startswith('target_gen')]
    assert keys == ['target_generator.teacher_digest']
    log = train(repo_root, python_env, CONFIGS[kind], work, teacher, 4,
                resume=True)
    assert 'resumed' in log.lower() and osp.isfile(
        osp.join(work, 'iter_4.pth'))

    # the resumed model: same teacher as the file, frozen, eval
    cfg = Config.fromfile(osp.join(repo_root, CONFIGS[kind]))
    cfg.model.target_generator.checkpoint = teacher
    model = MODELS.build(cfg.model)
    load_checkpoint(model, osp.join(work, 'iter_4.pth'), map_location='cpu',
                    strict=True)
    model.train()
    gen = model.target_generator
    assert not gen.teacher.training
    assert all(not p.requires_grad for p in gen.teacher.parameters())
    ref = load_teacher_state_dict(teacher, kind)
    own = gen.teacher.state_dict()
    for k, v in ref.items():
        assert torch.equal(own['proj' if k == 'proj' else 'vit.' + k], v)
