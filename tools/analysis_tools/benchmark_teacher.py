"""Step time of SemAIM with and without a frozen teacher, side by side.

Builds each config's model (a random teacher of the config's architecture is
written to a temporary file in OpenAI / DINO format when the config's
teacher file is absent), then times forward + backward + AdamW steps on
random images:

    python tools/analysis_tools/benchmark_teacher.py \\
        configs/pretrain/semaim_vitb_800e.py \\
        configs/pretrain/semaim_vitb_clip_800e.py --batch 2 --steps 4
"""
import argparse
import os.path as osp
import tempfile
import time
from contextlib import nullcontext

import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

import semaim_mm  # noqa: F401
from semaim_mm.checkpoints.teachers import teacher_to_openai_clip
from semaim_mm.models.teachers import TEACHER_ARCHS, TeacherViT


def random_teacher_file(kind: str, arch: str, tmp: str) -> str:
    a = dict(TEACHER_ARCHS[kind][arch])
    net = TeacherViT(kind, patch_size=16, img_size=224, **a)
    sd = {('proj' if k == 'proj' else k[4:]): v
          for k, v in net.state_dict().items()}
    path = osp.join(tmp, f'{kind}.pth')
    if kind == 'clip':
        sd = {'visual.' + k: v for k, v in teacher_to_openai_clip(sd).items()}
    torch.save(sd, path)
    return path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('configs', nargs='+')
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--steps', type=int, default=4)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--bf16', action='store_true',
                        help='autocast to bfloat16 (AmpOptimWrapper)')
    parser.add_argument('--threads', type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = tempfile.mkdtemp()
    results = []
    for path in args.configs:
        cfg = Config.fromfile(path)
        gen = cfg.model.get('target_generator') or {}
        if 'TargetGenerator' in gen.get('type', '') and gen.get(
                'checkpoint') and not osp.isfile(gen['checkpoint']):
            kind = 'clip' if 'CLIP' in gen['type'] else gen.get('kind',
                                                                'dino')
            gen['checkpoint'] = random_teacher_file(kind, gen['arch'], tmp)
        torch.manual_seed(0)
        model = MODELS.build(cfg.model).train()
        opt = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=1e-4)
        x = torch.randn(args.batch, 3, 224, 224)
        ctx = (torch.autocast('cpu', dtype=torch.bfloat16)
               if args.bf16 else nullcontext())
        times = []
        for i in range(args.warmup + args.steps):
            xi = x.clone()  # a new batch every step (no cache reuse)
            t0 = time.perf_counter()
            with ctx:
                loss = model.loss(xi)['loss']
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i >= args.warmup:
                times.append(time.perf_counter() - t0)
        step = sorted(times)[len(times) // 2]
        results.append((osp.basename(path), step))
        print(f'{osp.basename(path)}: median step {step:.3f} s '
              f'(batch {args.batch}, {"bf16" if args.bf16 else "fp32"})',
              flush=True)
    base = results[0][1]
    for name, step in results:
        print(f'{name:40s} {step:8.3f} s   x{step / base:.3f}')


if __name__ == '__main__':
    main()
