"""Predict the peak GPU memory of a training step of each paper config at its
per-GPU batch, without a GPU: a Markdown table for docs/benchmarks.md.

    python tools/analysis_tools/predict_gpu_memory.py [CONFIG ...]

Forward: the config's model on a simulated CUDA device (fake tensors,
``semaim_mm/profiling/simulated_cuda.py``) under its autocast, traced by
torch's ``MemTracker``: parameters, buffers and the live activations at
the forward's peak (what autograd keeps for backward, the autocast copies of the weights). Backward
and optimizer, analytic: fp32 gradients of the trainable parameters, and
the optimizer's state (AdamW: two fp32 tensors per trainable parameter; SGD
with momentum: one). Predicted peak = forward peak + gradients + optimizer
state: an upper bound of the steady state (backward frees activations while
it writes gradients). Not included: the CUDA context and cuBLAS / cuDNN
workspaces (about 0.5-1 GiB) and allocator fragmentation (the 40 / 80 GB
columns leave 1 GiB and 5 % for them), and a frozen teacher's weights (DINO
/ CLIP rows are not predicted).
"""
import argparse
import os.path as osp
from typing import List, Tuple

import torch
from mmengine.config import Config
from torch.distributed._tools.mem_tracker import MemTracker

import semaim_mm  # noqa: F401
from semaim_mm.profiling.simulated_cuda import (amp, build_on_cuda,
                                                simulated_cuda)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

GIB = 2**30
CONFIGS = [
    'configs/pretrain/semaim_vits_800e.py',
    'configs/pretrain/semaim_vitb_800e.py',
    'configs/pretrain/semaim_vitl_800e.py',
    'configs/benchmarks/finetune/vit-base-p16_8xb128-coslr-100e_in1k.py',
    'configs/benchmarks/finetune/vit-large-p16_8xb128-coslr-50e_in1k.py',
    'configs/benchmarks/linear/vit-base-p16_8xb512-linear-coslr-90e_in1k.py',
    'configs/benchmarks/linear/vit-large-p16_8xb512-linear-coslr-90e_in1k.py',
    'configs/det/semaim_vitb_mask-rcnn_fpn_100e_coco.py',
    'configs/seg/semaim_vitb_upernet_160k_ade20k-512x512.py',
]
OPTIMIZER_STATES = dict(AdamW=2, Adam=2, SGD=1)


class ForwardMemTracker(MemTracker):
    """Forward only, so no gradient hooks (frozen parameters take none)."""

    def _track_module_params_and_buffers(self, module,
                                         install_grad_hooks=True):
        return super()._track_module_params_and_buffers(
            module, install_grad_hooks=False)


def forward(cfg: Config, model, batch: int) -> None:
    """One training forward of ``model`` (built by ``cfg``) at ``batch``."""
    scope = cfg.get('default_scope', 'mmpretrain')
    if scope == 'mmdet':
        size = tuple(cfg.get('image_size', (1024, 1024)))
        x = torch.randint(0, 256, (batch, 3, *size), dtype=torch.uint8)
        x = model.data_preprocessor(dict(inputs=x), True)['inputs']
        with amp(cfg):  # backbone + FPN + RPN head: RoI heads need mmcv ops
            model.rpn_head(model.extract_feat(x))
        return
    if scope == 'mmseg':
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample
        size = tuple(cfg.crop_size)
        x = torch.randint(0, 256, (batch, 3, *size), dtype=torch.uint8)
        samples = [SegDataSample(metainfo=dict(img_shape=size), gt_sem_seg=(
            PixelData(data=torch.zeros(1, *size, dtype=torch.long))))
            for _ in range(batch)]
        x = model.data_preprocessor(dict(inputs=x, data_samples=samples),
                                    True)['inputs']
        with amp(cfg):
            logits = model(x, mode='tensor')
            labels = torch.randint(0, logits.shape[1], (batch, *size),
                                   device=logits.device)
            logits = torch.nn.functional.interpolate(
                logits, size=size, mode='bilinear', align_corners=False)
            model.decode_head.loss_decode(logits, labels)
        return
    from mmpretrain.structures import DataSample
    x = torch.randint(0, 256, (batch, 3, 224, 224), dtype=torch.uint8)
    samples = [DataSample(metainfo=dict(sample_idx=i, iteration=0))
               .set_gt_label(i % 1000) for i in range(batch)]
    data = model.data_preprocessor(dict(inputs=x, data_samples=samples),
                                   True)
    with amp(cfg):
        model(**data, mode='loss')


def predict(path: str) -> Tuple[str, int, List[float]]:
    """(config, batch, [params, activations, grads, optimizer, total] GiB)."""
    cfg = Config.fromfile(osp.join(ROOT, path))
    scope = cfg.get('default_scope', 'mmpretrain')
    if scope == 'mmdet':
        import semaim_mm.det  # noqa: F401
        from mmdet.registry import MODELS
    elif scope == 'mmseg':
        import semaim_mm.seg  # noqa: F401
        from mmseg.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    batch = cfg.train_dataloader.batch_size
    with simulated_cuda(scope):
        model = build_on_cuda(MODELS, cfg.model)
        tracker = ForwardMemTracker()
        tracker.track_external(model)
        with tracker:
            forward(cfg, model, batch)
    peak = tracker.get_tracker_snapshot('peak')[torch.device('cuda', 0)]
    trainable = sum(p.numel() * 4 for p in model.parameters()
                    if p.requires_grad)
    optimizer = cfg.optim_wrapper.optimizer.type
    states = OPTIMIZER_STATES.get(optimizer, 2) * trainable
    fwd = peak['Total']
    params = sum(v for k, v in peak.items()
                 if getattr(k, 'value', '') in ('Parameter', 'Buffer'))
    total = fwd + trainable + states
    return path, batch, [params / GIB, (fwd - params) / GIB,
                         trainable / GIB, states / GIB, total / GIB]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('configs', nargs='*', default=CONFIGS)
    args = p.parse_args()
    print('| config | batch / GPU | weights | activations | gradients | '
          'optimizer | predicted peak (GiB) | 40 GB | 80 GB |')
    print('|---|---|---|---|---|---|---|---|---|')
    for path in args.configs:
        name, batch, gib = predict(path)
        # a card's memory (A100 40 GB: 40 GiB, H100 80 GB: 80 GiB) less 5 %
        # for fragmentation and 1 GiB for the CUDA context and workspaces
        fits = ['fits' if gib[-1] + 1 <= 0.95 * cap else 'no'
                for cap in (40, 80)]
        cells = ' | '.join(f'{v:.1f}' for v in gib)
        print(f'| `{osp.basename(name)}` | {batch} | {cells} | '
              f'{fits[0]} | {fits[1]} |', flush=True)


if __name__ == '__main__':
    main()
