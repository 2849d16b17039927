"""Probes ``gpu_check.sh`` runs besides the benchmarks, each writing JSON.

    python tools/analysis_tools/gpu_probes.py sdpa --json OUT.json
    python tools/analysis_tools/gpu_probes.py precision --device cuda --json OUT.json

``sdpa``: which fused attention kernels the fast path's causal SDPA can use
on this GPU, and which one a ViT-B/16 training step actually launches (the
kernel names in a profiler trace). Needs CUDA: exits with status 77
(skipped) without it.

``precision``: one batch of ViT-B/16 (``configs/pretrain/semaim_vitb_800e.py``,
eval mode, the same order noise) in fp32 and under bf16 autocast: the loss,
the similarity map and the semantic order's centres of both.
"""
import argparse
import json
import os.path as osp
from typing import Dict, List

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'pretrain', 'semaim_vitb_800e.py')
SKIPPED = 77
KERNEL_FAMILIES = (('flash', 'flash'), ('fmha', 'efficient'),
                   ('efficient', 'efficient'), ('cudnn', 'cudnn'))


def build_vitb(device: str):
    import semaim_mm  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(Config.fromfile(CONFIG).model)
    model.init_weights()
    return model.to(device).eval()


def batch(size: int, device: str):
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(0)
    x = torch.randn(size, 3, 224, 224, generator=g).to(device)
    return x, [DataSample(metainfo=dict(sample_idx=i, iteration=0))
               for i in range(size)]


def sdpa_backends() -> Dict[str, bool]:
    """Which SDPA backends run the fast path's attention (ViT-B shapes,
    bf16, causal)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    q = torch.randn(8, 12, 197, 64, device='cuda', dtype=torch.bfloat16)
    found = {}
    for backend in (SDPBackend.FLASH_ATTENTION,
                    SDPBackend.EFFICIENT_ATTENTION,
                    SDPBackend.CUDNN_ATTENTION, SDPBackend.MATH):
        try:
            with sdpa_kernel([backend]):
                torch.nn.functional.scaled_dot_product_attention(
                    q, q, q, is_causal=True)
            found[backend.name] = True
        except RuntimeError:
            found[backend.name] = False
    return found


def launched_attention_kernels(model, size: int) -> List[str]:
    """Attention kernel families one bf16 training step launches."""
    from torch.profiler import ProfilerActivity, profile
    x, samples = batch(size, 'cuda')
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        with torch.autocast('cuda', dtype=torch.bfloat16):
            model.loss(x, samples)['loss'].backward()
        torch.cuda.synchronize()
    names = {e.name.lower() for e in prof.events()}
    return sorted({family for key, family in KERNEL_FAMILIES
                   for name in names if key in name})


def probe_sdpa(args) -> dict:
    if not torch.cuda.is_available():
        print('sdpa: skipped (needs CUDA)')
        raise SystemExit(SKIPPED)
    model = build_vitb('cuda').train()
    return dict(device=torch.cuda.get_device_name(),
                backends_available=sdpa_backends(),
                fast_path_kernels=launched_attention_kernels(model,
                                                             args.batch))


def probe_precision(args) -> dict:
    model = build_vitb(args.device)
    x, samples = batch(args.batch, args.device)
    rule = model.order_rule
    out = {}
    for name, amp in (('fp32', False), ('bf16', True)):
        with torch.no_grad(), torch.autocast(args.device.split(':')[0],
                                             dtype=torch.bfloat16,
                                             enabled=amp):
            sim = model.similarity(x)
            loss = model.loss(x, samples)['loss']
        grid = model.backbone.check_input(x)
        out[name] = dict(loss=float(loss), sim=sim,
                         centers=rule.centers(sim, grid))
    a, b = out['fp32'], out['bf16']
    return dict(
        device=args.device, batch=args.batch, order=repr(rule),
        loss_fp32=a['loss'], loss_bf16=b['loss'],
        loss_rel_diff=abs(b['loss'] - a['loss']) / abs(a['loss']),
        sim_max_abs_diff=float((a['sim'] - b['sim']).abs().max()),
        centers_equal=float((a['centers'] == b['centers']).float().mean()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('probe', choices=('sdpa', 'precision'))
    p.add_argument('--device', default='cuda')
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--json', required=True)
    args = p.parse_args()
    result = (probe_sdpa if args.probe == 'sdpa' else probe_precision)(args)
    with open(args.json, 'w') as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))


if __name__ == '__main__':
    main()
