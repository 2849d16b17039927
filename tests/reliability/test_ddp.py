"""2 processes x 2 images (gloo, CPU, torchrun) == 1 process x 4 images."""
import json
import subprocess

import pytest
import torch

import os.path as osp

from ._real import CONFIG, PYTHON, ROOT, SMALL
from ._real import env as _env

HERE = osp.dirname(osp.abspath(__file__))


def env():
    # _ddp_hook is imported by the config (custom_imports) in the children
    return dict(_env(), PYTHONPATH=f'{ROOT}:{HERE}')

ITERS = 2


def write_config(tmp_path, per_rank):
    cfg = tmp_path / f'cfg_bs{per_rank}.py'
    cfg.write_text(f'''
_base_ = [{CONFIG!r}]
custom_imports = dict(imports=['semaim_mm', '_ddp_hook'],
                      allow_failed_imports=False)
# no random augmentation: both runs must see identical pixels
train_dataloader = dict(batch_size={per_rank},
                        dataset=dict(pipeline=[dict(type='PackInputs')]))
# mmengine 0.10.7 Runner.wrap_model passes device_ids=[LOCAL_RANK], which
# torch DDP rejects for CPU modules; without device_ids it works on CPU.
model_wrapper_cfg = dict(type='MMDistributedDataParallel',
                         broadcast_buffers=False)
# SGD, not the config's AdamW: Adam scales every update to about lr, also
# for gradients that are zero in exact arithmetic and only rounding noise
# here (the attention key bias: softmax ignores it), so two summation
# orders would differ by up to 2 * lr there; SGD keeps the difference at
# the size of the rounding.
optim_wrapper = dict(optimizer=dict(_delete_=True, type='SGD', lr=0.05,
                                    momentum=0.9, weight_decay=0.05))
custom_hooks = [dict(type='ExactResumeHook'),
                dict(type='NonFiniteLossHook'),
                dict(type='RankLossRecorder')]
''')
    return str(cfg)


def rank_losses(work_dir, rank):
    lines = (work_dir / f'losses_rank{rank}.jsonl').read_text().splitlines()
    return {r['iter']: r['loss'] for r in map(json.loads, lines)}


@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
    opts = SMALL + [f'train_cfg.max_iters={ITERS}',
                    f'default_hooks.checkpoint.interval={ITERS}']
    one, two = tmp_path / 'one', tmp_path / 'two'
    subprocess.run([PYTHON, 'tools/train.py', write_config(tmp_path, 4),
                    '--work-dir', str(one), '--cfg-options', *opts],
                   cwd=ROOT, env=env(), check=True, capture_output=True,
                   timeout=600)
    res = subprocess.run(
        ['bash', 'tools/dist_train.sh', write_config(tmp_path, 2), '2',
         '--work-dir', str(two), '--cfg-options', *opts], cwd=ROOT,
        env=dict(env(), PYTHON=PYTHON, PORT='29517'), capture_output=True,
        text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    single = rank_losses(one, 0)
    r0, r1 = rank_losses(two, 0), rank_losses(two, 1)
    for it in range(ITERS):
        assert (r0[it] + r1[it]) / 2 == pytest.approx(single[it], abs=1e-5)
    assert r0[0] != r1[0]  # the ranks did see different images
    a = torch.load(one / f'iter_{ITERS}.pth')['state_dict']
    b = torch.load(two / f'iter_{ITERS}.pth')['state_dict']
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k
