"""Training-step benchmark of SemAIM: FLOP counting, timed steps, memory.

Reusable logic of ``tools/benchmark.py`` (see ``docs/benchmarks.md``).

* :func:`semaim_step_flops` counts the FLOPs of one SemAIM training step
  analytically (2 FLOPs per multiply-add): patch embedding, the qkv / proj /
  MLP matmuls, attention ``QK^T`` and ``AV``, the decoder's cross-attention,
  the head, and the target blur. Backward = 2x forward for the trained parts
  (encoder, decoder, head); the similarity pass and the targets are
  forward-only. Attention counts the (query, key) pairs each path actually
  computes: the reference path multiplies full ``(1+N) x (1+N)`` score
  matrices; the fast path's causal kernels compute only the lower triangle,
  ``T (T+1) / 2`` pairs. LayerNorm, softmax, GELU and the optimizer are not
  counted (they are not matmul work), so the utilisation is a model-FLOPs
  utilisation (MFU).
* :func:`timed_step` runs one step (``model.loss``, backward, AdamW) under
  a :class:`~semaim_mm.phases.PhaseTimer`: the phases are the ones
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
from typing import Dict, Optional, Sequence

import torch
from torch import Tensor, nn

from .phases import PhaseTimer, phase

H100_BF16_PEAK = 989e12  # dense bf16 tensor-core FLOP/s (SXM)
PHASES = ('similarity', 'targets', 'encoder', 'decoder_head', 'backward',
          'optimizer')


# ------------------------------------------------------------------ FLOPs
def linear_flops(tokens: int, d_in: int, d_out: int) -> int:
    """One (tokens x d_in) @ (d_in x d_out) matmul."""
    return 2 * tokens * d_in * d_out


def causal_pairs(n: int) -> int:
    """(query, key) pairs of an n x n causal (lower-triangular) mask."""
    return n * (n + 1) // 2


def attention_flops(pairs: int, dim: int) -> int:
    """``QK^T`` and ``AV`` over ``pairs`` (query, key) pairs, all heads
    together (``dim`` = heads * head_dim)."""
    return 2 * 2 * pairs * dim


def encoder_block_flops(tokens: int, dim: int, hidden: int,
                        pairs: Optional[int] = None) -> int:
    """Pre-norm ViT block on ``tokens`` tokens: qkv, proj, fc1, fc2 and
    attention over ``pairs`` pairs (default: full, tokens**2)."""
    pairs = tokens * tokens if pairs is None else pairs
    return (linear_flops(tokens, dim, 3 * dim) + linear_flops(tokens, dim, dim)
            + linear_flops(tokens, dim, hidden)
            + linear_flops(tokens, hidden, dim)
            + attention_flops(pairs, dim))


def decoder_block_flops(queries: int, keys: int, dim: int, hidden: int,
                        pairs: Optional[int] = None) -> int:
    """Cross-attention block: q (queries), k and v (keys), proj, MLP on the
    queries, attention over ``pairs`` (default queries * keys)."""
    pairs = queries * keys if pairs is None else pairs
    return (linear_flops(queries, dim, dim) + 2 * linear_flops(keys, dim, dim)
            + linear_flops(queries, dim, dim)
            + linear_flops(queries, dim, hidden)
            + linear_flops(queries, hidden, dim)
            + attention_flops(pairs, dim))


def semaim_step_flops(num_patches: int,
                      patch_dim: int,
                      dim: int,
                      hidden: int,
                      depth: int,
                      dec_dim: int,
                      dec_hidden: int,
                      dec_depth: int,
                      enc_blocks_run: int,
                      head_hidden: int,
                      target_dim: int,
                      path: str = 'fast',
                      similarity_pass: bool = True,
                      blur_flops: int = 0) -> Dict[str, int]:
    """FLOPs of one SemAIM training step for ONE image.

    Args:
        num_patches: N.
        patch_dim: P*P*C (patch-embedding input).
        dim, hidden, depth: encoder width, MLP width, blocks.
        dec_dim, dec_hidden, dec_depth: decoder width, MLP width, blocks.
        enc_blocks_run: encoder blocks the autoregressive pass runs (the
            deepest decoder tap).
        head_hidden, target_dim: head MLP widths.
        path: ``'fast'`` (causal pairs) or ``'reference'`` (full masks;
            the decoder also runs the discarded CLS query).
        similarity_pass: whether the order needs the similarity pass.
        blur_flops: forward FLOPs of the target generator.

    Returns:
        dict with ``similarity``, ``targets``, ``encoder``, ``decoder``,
        ``head`` (forward FLOPs), ``backward`` (2x encoder+decoder+head) and
        ``total``.
    """
    n, t = num_patches, num_patches + 1
    embed = linear_flops(n, patch_dim, dim)
    sim = (embed + depth * encoder_block_flops(t, dim, hidden)
           if similarity_pass else 0)
    if path == 'fast':
        enc = embed + enc_blocks_run * encoder_block_flops(
            t, dim, hidden, causal_pairs(t))
        # N queries, keys = [CLS, patches 1..N-1] (N tokens), causal
        dec = dec_depth * decoder_block_flops(n, n, dec_dim, dec_hidden,
                                              causal_pairs(n))
        head_tokens = n
    elif path == 'reference':
        enc = embed + enc_blocks_run * encoder_block_flops(t, dim, hidden)
        dec = dec_depth * decoder_block_flops(t, t, dec_dim, dec_hidden)
        head_tokens = n  # the CLS query is dropped before the head
    else:
        raise ValueError(f'unknown path {path!r}')
    head = (linear_flops(head_tokens, dec_dim, head_hidden)
            + linear_flops(head_tokens, head_hidden, target_dim))
    out = dict(similarity=sim, targets=blur_flops, encoder=enc, decoder=dec,
               head=head, backward=2 * (enc + dec + head))
    out['total'] = sum(out.values())
    return out


def model_step_flops(model: nn.Module, img_hw: Sequence[int],
                     path: Optional[str] = None) -> Dict[str, int]:
    """:func:`semaim_step_flops` for one image with the dimensions read
    from a built :class:`SemAIM`."""
    bb, neck, head = model.backbone, model.neck, model.head
    p, c = bb.patch_size, bb.in_channels
    n = (img_hw[0] // p) * (img_hw[1] // p)
    blk = neck.blocks[0]
    order = model.current_order()
    blur = 0
    kernel = getattr(model.target_generator, 'kernel', None)
    if kernel is not None:
        blur = 2 * kernel.shape[-1]**2 * c * img_hw[0] * img_hw[1]
    return semaim_step_flops(
        num_patches=n,
        patch_dim=p * p * c,
        dim=bb.embed_dims,
        hidden=bb.arch_settings['feedforward_channels'],
        depth=bb.num_layers,
        dec_dim=blk.attn.q.in_features,
        dec_hidden=blk.ffn.layers[0][0].out_features,
        dec_depth=len(neck.blocks),
        enc_blocks_run=max(neck.taps),
        head_hidden=head.mlp.fc1.out_features,
        target_dim=head.mlp.fc2.out_features,
        path=path or model.attention_path,
        similarity_pass=order.needs_similarity
        and model.similarity_source != 'teacher',
        blur_flops=blur)


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
                 compile: bool = False, grad_checkpointing: bool = False):
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
    if grad_checkpointing:
        model_cfg['backbone']['grad_checkpointing'] = True
        model_cfg['neck']['grad_checkpointing'] = True
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
    if isinstance(arch, str):  # SemAIM's zoo ('small' = DeiT-S, 384 wide)
        from .models.vit import SemAIMViT
        arch = dict(SemAIMViT.arch_zoo[arch.lower()])
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


def build_mae(cfg, img_size: int, device='cpu'):
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    model = MODELS.build(mae_config(cfg, img_size))
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
        model = build_mae(cfg, spec['img_size'])
    else:
        model = build_semaim(cfg, spec['path'], spec['img_size'],
                             compile=spec.get('compile', False),
                             grad_checkpointing=spec.get('grad_ckpt', False))
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
                    compile: bool = False, grad_ckpt: bool = False,
                    timeout: float = 3600) -> int:
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
                grad_ckpt=grad_ckpt)
    env = dict(os.environ)
    env['MALLOC_MMAP_THRESHOLD_'] = '131072'
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env['PYTHONPATH'] = root + os.pathsep + env.get('PYTHONPATH', '')
    code = ('import json,sys;from semaim_mm.benchmark import _memory_probe;'
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

