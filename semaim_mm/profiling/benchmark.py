"""Training-step benchmark of SemAIM: timed steps, memory (FLOPs:
:mod:`semaim_mm.profiling.flops`).

Reusable logic of ``tools/benchmark.py`` (see ``docs/benchmarks.md``).

* :func:`timed_step` runs one step (``model.loss``, backward, AdamW) under
  a :class:`~semaim_mm.profiling.phases.PhaseTimer`: the phases are the ones
  ``SemAIM.loss`` marks (:data:`PHASES`), plus backward and the optimizer.
* :func:`sgemm_rate` measures the fp32 matmul rate of this machine (the CPU
  "peak" of the utilisation); H100 dense bf16 peak is
  :data:`H100_BF16_PEAK`.
* :func:`cpu_peak_memory` runs the step in a fresh subprocess and reports
  its peak resident-set growth (see the function).
"""
import copy
import json
import os
import resource
import subprocess
import sys
import time
from contextlib import nullcontext
from typing import Dict

import torch
from torch import Tensor, nn

from .phases import PhaseTimer, phase

H100_BF16_PEAK = 989e12  # dense bf16 tensor-core FLOP/s (SXM)
PHASES = ('similarity', 'targets', 'encoder', 'decoder_head', 'backward',
          'optimizer')


# ------------------------------------------------------------------ timing
def autocast_ctx(device: torch.device, amp: bool):
    if not amp:
        return nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def timed_step(model: nn.Module, optimizer: torch.optim.Optimizer,
               inputs: Tensor, amp: bool = False,
               kind: str = 'semaim') -> Dict[str, float]:
    """One training step (``model.loss``, backward, optimizer); returns
    seconds per phase (:data:`PHASES` for SemAIM; ``forward``, ``backward``,
    ``optimizer`` for ``kind='mae'``, mmpretrain's MAE), ``total`` and
    ``loss``."""
    with PhaseTimer(inputs.device) as timer:
        with autocast_ctx(inputs.device, amp):
            if kind == 'mae':
                with phase('forward'):
                    loss = model.loss(inputs, [])['loss']
            else:
                loss = model.loss(inputs)['loss']
        with phase('backward'):
            loss.backward()
        with phase('optimizer'):
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    out = dict(timer.seconds)
    out['total'] = timer.total
    out['loss'] = float(loss.detach())
    return out


def make_optimizer(model: nn.Module, device) -> torch.optim.Optimizer:
    """AdamW(lr 1.5e-4, betas (0.9, 0.95), wd 0.05), fused where this torch
    supports it for the device (CPU and CUDA in torch >= 2.4)."""
    params = [p for p in model.parameters() if p.requires_grad]
    kw = dict(lr=1.5e-4, betas=(0.9, 0.95), weight_decay=0.05)
    try:
        opt = torch.optim.AdamW(params, fused=True, **kw)
    except (RuntimeError, TypeError, ValueError):
        opt = torch.optim.AdamW(params, **kw)
    return opt


def sgemm_rate(device, size: int = 2048, reps: int = 1) -> float:
    """FLOP/s of a (size x size) @ (size x size) fp32 matmul (best of
    ``reps``, after one warm-up)."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    cuda = torch.device(device).type == 'cuda'
    a @ b
    best = float('inf')
    for _ in range(reps):
        if cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        a @ b
        if cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best


# ------------------------------------------------------------------ building
def build_semaim(cfg, path: str, img_size: int, device='cpu',
                 compile: bool = False, with_cp: bool = False):
    """Build the config's SemAIM for ``path`` at ``img_size``.

    ``path='reference'`` is the baseline: explicit masks and the similarity
    pass in fp32 outside autocast; ``'fast'``: causal SDPA, similarity pass
    in the training dtype."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.pop('data_preprocessor', None)
    model_cfg['attention_path'] = path
    model_cfg['similarity_fp32'] = path == 'reference'
    model_cfg['backbone']['img_size'] = img_size
    if with_cp:  # activation checkpointing
        model_cfg['backbone']['with_cp'] = True
        model_cfg['neck']['with_cp'] = True
    if compile:
        model_cfg['compile'] = True
    model = MODELS.build(model_cfg)
    return model.to(device).train()


def mae_config(cfg, img_size: int) -> dict:
    """mmpretrain's MAE with the SemAIM config's ViT (MAE's standard decoder:
    512 wide, 8 blocks, 16 heads; mask ratio 0.75; norm-pix MSE)."""
    bb = cfg.model['backbone']
    p = bb.get('patch_size', 16)
    n = (img_size // p)**2
    arch = bb.get('arch', 'base')
    # the config backbone's zoo ('deit-small': 384 wide), not MAEViT's
    if isinstance(arch, str):
        from mmpretrain.registry import MODELS
        arch = dict(MODELS.get(bb['type']).arch_zoo[arch.lower()])
    return dict(
        type='MAE',
        backbone=dict(type='MAEViT', arch=dict(arch),
                      img_size=img_size, patch_size=p, mask_ratio=0.75),
        neck=dict(type='MAEPretrainDecoder', num_patches=n, patch_size=p,
                  in_chans=bb.get('in_channels', 3),
                  embed_dim=arch['embed_dims'],
                  decoder_embed_dim=512, decoder_depth=8,
                  decoder_num_heads=16, mlp_ratio=4.),
        head=dict(type='MAEPretrainHead', norm_pix=True, patch_size=p,
                  loss=dict(type='PixelReconstructionLoss', criterion='L2')))


def config_mae(path: str, img_size: int) -> dict:
    """The MAE model of an MAE pre-training config (the project's own
    recipe, e.g. configs/pretrain/mae_vit-tiny-p4_fashion-mnist.py)."""
    from mmengine.config import Config
    model = copy.deepcopy(Config.fromfile(path).model)
    if model.get('type') != 'MAE':
        raise ValueError(f"{path} builds a {model.get('type')!r}, not an "
                         'MAE: give --mae an MAE pre-training config')
    model.pop('data_preprocessor', None)
    model['backbone']['img_size'] = img_size
    return model


def build_mae(cfg, img_size: int, device='cpu', source: str = 'standard'):
    """MAE beside the config's SemAIM: ``source='standard'`` is
    :func:`mae_config`; otherwise the path of an MAE config to take the
    model from (:func:`config_mae`)."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    model_cfg = (mae_config(cfg, img_size) if source == 'standard' else
                 config_mae(source, img_size))
    model = MODELS.build(model_cfg)
    return model.to(device).train()


# ------------------------------------------------------------------ memory
def current_rss() -> int:
    """Resident set size of this process in bytes (Linux)."""
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (VmHWM) to the current RSS
    (Linux >= 4.0: ``echo 5 > /proc/self/clear_refs``)."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def peak_rss() -> int:
    """VmHWM (peak RSS) of this process in bytes; ``ru_maxrss`` if the
    kernel does not report it."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _memory_probe(spec: dict) -> dict:
    """Child side of :func:`cpu_peak_memory`."""
    import semaim_mm  # noqa: F401
    from mmengine.config import Config
    torch.set_num_threads(spec['threads'])
    cfg = Config.fromfile(spec['config'])
    reset_peak_rss()  # import-time peaks must not count
    base = current_rss()
    if spec['path'] == 'mae':
        model = build_mae(cfg, spec['img_size'],
                          source=spec.get('mae', 'standard'))
    else:
        model = build_semaim(cfg, spec['path'], spec['img_size'],
                             compile=spec.get('compile', False),
                             with_cp=spec.get('with_cp', False))
    opt = make_optimizer(model, 'cpu')
    g = torch.Generator().manual_seed(0)
    x = torch.randn(spec['batch'], 3, spec['img_size'], spec['img_size'],
                    generator=g)
    for _ in range(spec['steps']):
        timed_step(model, opt, x, spec.get('amp', False),
                   'mae' if spec['path'] == 'mae' else 'semaim')
    return dict(peak_bytes=peak_rss() - base, base_bytes=base)


def cpu_peak_memory(config: str, path: str, img_size: int, batch: int,
                    steps: int = 2, threads: int = 1, amp: bool = False,
                    compile: bool = False, with_cp: bool = False,
                    mae: str = 'standard', timeout: float = 3600) -> int:
    """Peak memory of CPU training steps, in bytes.

    A fresh Python process imports the stack, reads its RSS (``base``),
    builds the model and AdamW and runs ``steps`` steps (the second one has
    the optimizer state and the activations alive together); the result is
    the process's peak RSS minus ``base`` (the kernel's high-water mark
    VmHWM, reset to the current RSS just before ``base`` is read, so
    import-time peaks do not count): parameters,
    gradients, optimizer state, activations and allocator slack. glibc's
    mmap threshold is pinned (``MALLOC_MMAP_THRESHOLD_=131072``) so large
    freed tensors go back to the OS and the peak follows live memory.
    """
    spec = dict(config=config, path=path, img_size=img_size, batch=batch,
                steps=steps, threads=threads, amp=amp, compile=compile,
                with_cp=with_cp, mae=mae)
    env = dict(os.environ)
    env['MALLOC_MMAP_THRESHOLD_'] = '131072'
    # the folder holding this copy of semaim_mm (profiling/benchmark.py)
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    env['PYTHONPATH'] = root + os.pathsep + env.get('PYTHONPATH', '')
    code = ('import json,sys;'
            'from semaim_mm.profiling.benchmark import _memory_probe;'
            'print("MEMPROBE" + json.dumps(_memory_probe(json.loads('
            'sys.argv[1]))))')
    out = subprocess.run([sys.executable, '-c', code, json.dumps(spec)],
                         env=env, capture_output=True, text=True,
                         timeout=timeout)
    for line in out.stdout.splitlines():
        if line.startswith('MEMPROBE'):
            return json.loads(line[len('MEMPROBE'):])['peak_bytes']
    raise RuntimeError(f'memory probe for {path} failed:\n'
                       f'{out.stdout[-2000:]}\n{out.stderr[-4000:]}')

