"""Benchmark SemAIM training steps: fast vs reference path (and MAE); or
any training config end to end through the Runner.

    python tools/benchmark.py configs/pretrain/semaim_vitb_800e.py \
        --path both --batch 64 --steps 20 --warmup 5 --device cuda --amp
    python tools/benchmark.py configs/pretrain/mae_vit-tiny-p4_fashion-mnist.py \
        --end-to-end --steps 40 --warmup 5

Step mode: every path is built from the config with the same weights and
run on the same synthetic batch; the paths' steps are interleaved (round r
runs one step of each) so machine noise hits them alike. ``--end-to-end``:
the config's own model, data loader and hooks train through the Runner, with
bare-step and sgemm probes interleaved
(semaim_mm.profiling.runner_benchmark). Prints a table and writes every
field to ``--json``. See docs/benchmarks.md.
"""
import argparse
import json
import logging
import os
import os.path as osp
import platform
import time
from statistics import median

import torch
from mmengine.config import DictAction

import semaim_mm  # noqa: F401
from semaim_mm.cpu_malloc import keep_freed_memory
from semaim_mm.profiling import benchmark as bm
from semaim_mm.profiling import flops


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('--path', choices=['fast', 'reference', 'both'],
                   default='both')
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--steps', type=int, default=5, help='timed steps')
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--img-size', type=int, default=None,
                   help="input size (default: the backbone's img_size)")
    p.add_argument('--device', choices=['cpu', 'cuda'], default=None)
    p.add_argument('--amp', action='store_true',
                   help='bf16 autocast (the reference path still runs its '
                   'similarity pass in fp32 outside autocast)')
    p.add_argument('--compile', action='store_true',
                   help='torch.compile the fast path blocks (SemAIM '
                   'compile=True); give --warmup >= 2')
    p.add_argument('--grad-checkpointing', action='store_true',
                   help='activation checkpointing on the fast path')
    p.add_argument('--mae', nargs='?', const='standard', default=None,
                   metavar='CONFIG',
                   help="also run mmpretrain's MAE: with no value MAE's "
                   'standard decoder (512 wide, 8 blocks) on the same ViT; '
                   "with a config path, that config's MAE")
    p.add_argument('--end-to-end', action='store_true',
                   help='train the config (any training config) through '
                   'the Runner with its data loader and hooks; report the '
                   'end-to-end rate beside the bare step rate')
    p.add_argument('--probe-every', type=int, default=2,
                   help='--end-to-end: one bare step and one sgemm after '
                   'every this many timed iterations')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='--end-to-end: override config settings')
    p.add_argument('--no-memory', action='store_true',
                   help='skip the CPU peak-memory subprocesses')
    p.add_argument('--mem-steps', type=int, default=2)
    p.add_argument('--sgemm-size', type=int, default=2048)
    p.add_argument('--threads', type=int, default=None,
                   help='torch CPU threads (default: torch default); on a '
                   'shared CPU, 1 avoids OpenMP spin-wait collapse')
    p.add_argument('--malloc', choices=['keep', 'default'], default='keep',
                   help="'keep': glibc keeps freed tensor memory for reuse "
                   '(semaim_mm.cpu_malloc, as tools/train.py runs); '
                   "'default': glibc's own settings")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--json', default=None, help='write results here')
    return p.parse_args(argv)


def quiet_mmengine():
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    logger.setLevel(logging.WARNING)
    for h in logger.handlers:
        h.setLevel(logging.WARNING)


def persistent_bytes(model, opt):
    n = sum(p.numel() * p.element_size() for p in model.parameters())
    for st in opt.state.values():
        n += sum(v.numel() * v.element_size() for v in st.values()
                 if torch.is_tensor(v))
    return n


def build_entries(args, cfg, device, size):
    """``{name: entry}``: each path's model (same weights), optimizer and
    FLOPs per image; MAE with ``--mae``."""
    paths = ['fast', 'reference'] if args.path == 'both' else [args.path]
    entries = {}
    state = None
    for path in paths:
        fast = path == 'fast'
        model = bm.build_semaim(
            cfg, path, size, device, compile=args.compile and fast,
            with_cp=args.grad_checkpointing and fast)
        if state is None:
            model.init_weights()
            state = model.state_dict()
        else:
            model.load_state_dict(state)
        quiet_mmengine()
        name = path + ('+compile' if args.compile and fast else '') + (
            '+ckpt' if args.grad_checkpointing and fast else '')
        entries[name] = dict(
            kind='semaim', path=path, model=model,
            opt=bm.make_optimizer(model, device),
            flops_per_image=flops.model_step_flops(model, (size, size), path))
    if args.mae:
        model = bm.build_mae(cfg, size, device, args.mae)
        model.init_weights()
        quiet_mmengine()
        entries['mae'] = dict(kind='mae', path='mae', model=model,
                              opt=bm.make_optimizer(model, device),
                              flops_per_image=flops.mae_model_step_flops(
                                  model, (size, size)))
    for e in entries.values():
        e['steps'] = []
        e['mem'] = []
    return entries


def run_rounds(args, entries, x, device):
    """Warm-up and timed rounds, one step of every entry per round; returns
    the sgemm rates measured before each timed round."""
    cuda = device.type == 'cuda'
    sgemm = []
    for r in range(args.warmup + args.steps):
        timed = r >= args.warmup
        if timed:
            sgemm.append(bm.sgemm_rate(device, args.sgemm_size))
        for name, e in entries.items():
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats(device)
                base = torch.cuda.memory_allocated(device)
            res = bm.timed_step(e['model'], e['opt'], x, args.amp, e['kind'])
            if cuda:
                e['mem'].append(torch.cuda.max_memory_allocated(device) - base
                                + persistent_bytes(e['model'], e['opt']))
            if timed:
                e['steps'].append(res)
            print(f'round {r} {"timed" if timed else "warmup"} {name}: '
                  f'{res["total"] * 1e3:.0f} ms loss {res["loss"]:.5f}',
                  flush=True)
    return sgemm


def peak_memory(args, e, size, cuda):
    """(bytes or None, how it was measured) of one entry."""
    if cuda:
        return (max(e['mem']) if e['mem'] else None,
                'cuda max_memory_allocated during the step - allocated '
                'before it + params and optimizer state of this path')
    if args.no_memory:
        return None, 'skipped (--no-memory)'
    fast = e['path'] == 'fast'
    peak = bm.cpu_peak_memory(
        args.config, e['path'], size, args.batch, args.mem_steps,
        torch.get_num_threads(), args.amp, compile=args.compile and fast,
        with_cp=args.grad_checkpointing and fast, mae=args.mae)
    return peak, (f'peak RSS growth of a fresh process over its post-import '
                  f'RSS, {args.mem_steps} steps')


def result_row(args, e, size, peak, cuda):
    """The JSON row of one entry."""
    totals = [s['total'] for s in e['steps']]
    t = median(totals)
    row = dict(
        path=e['path'], step_times_s=totals, ms_per_step=t * 1e3,
        images_per_s=args.batch / t,
        losses=[s['loss'] for s in e['steps']])
    phases = bm.PHASES if e['kind'] == 'semaim' else ('forward', 'backward',
                                                      'optimizer')
    row['time_split_ms'] = {
        k: median([s.get(k, 0.0) for s in e['steps']]) * 1e3
        for k in phases}
    row['flops_per_step'] = row['achieved_flops_per_s'] = row['mfu'] = None
    if e['flops_per_image'] is not None:
        f = {k: v * args.batch for k, v in e['flops_per_image'].items()}
        row['flops_per_step'] = f
        row['achieved_flops_per_s'] = f['total'] / t
        row['mfu'] = f['total'] / t / peak
    row['peak_memory_bytes'], row['peak_memory_method'] = peak_memory(
        args, e, size, cuda)
    return row


def step_ratios(results):
    """Fast / reference throughput, each SemAIM path's decoder + head FLOP
    rate over its encoder's, and each SemAIM path's step time over MAE's."""
    ratios = {}
    for n, r in results.items():
        f, t = r['flops_per_step'], r['time_split_ms']
        if f and 'head' in f:  # SemAIM rows (MAE's has no head split)
            dec_rate = (f['decoder'] + f['head']) / t['decoder_head']
            ratios[f'{n}_decoder_head_vs_encoder_flop_rate'] = (
                dec_rate / (f['encoder'] / t['encoder']))
    fast = next((n for n in results if results[n]['path'] == 'fast'), None)
    if fast and 'reference' in results:
        tf = results[fast]['step_times_s']
        tr = results['reference']['step_times_s']
        ratios['fast_vs_reference_images_per_s'] = (
            results[fast]['images_per_s']
            / results['reference']['images_per_s'])
        # median over rounds of step_time(reference) / step_time(fast)
        ratios['fast_vs_reference_paired_median'] = median(
            [b / a for a, b in zip(tf, tr)])
    if 'mae' in results:
        for n in results:
            if n != 'mae':
                ratios[f'{n}_over_mae_step_time'] = (
                    results[n]['ms_per_step'] / results['mae']['ms_per_step'])
    return ratios


def end_to_end(args, cfg, malloc_kept):
    """``--end-to-end``: the Runner's rate beside the bare step's."""
    from semaim_mm.profiling.runner_benchmark import run_end_to_end
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.log_level = 'WARNING'
    out = run_end_to_end(cfg, args.steps, args.warmup, args.probe_every,
                         args.sgemm_size)
    out.update(config=args.config, torch=torch.__version__,
               device_name=platform.processor() or platform.machine(),
               cpu_count=os.cpu_count(), malloc_keep_freed=malloc_kept)
    print(f"\n{args.config}  {out['model']}  batch {out['batch']}  "
          f"{out['img_hw'][0]}x{out['img_hw'][1]}  cpu ({out['device_name']}, "
          f"{out['torch_threads']} threads, {out['num_workers']} loader "
          f"workers)  steps={args.steps}  probes={out['probes']}")
    rows = [('end-to-end images/s', out['end_to_end_images_per_s'], '.1f'),
            ('bare step images/s', out['bare_step_images_per_s'], '.1f'),
            ('end-to-end / bare step', out['end_to_end_vs_bare_step'], '.3f'),
            ('data wait / iteration', out['data_wait_fraction'], '.3f'),
            ('sgemm GFLOP/s', out['sgemm_flops_per_s'] / 1e9, '.1f')]
    if out['flops_per_image']:
        rows += [('GFLOP/image', out['flops_per_image']['total'] / 1e9,
                  '.4f'),
                 ('bare step MFU', 100 * out['bare_step_mfu'], '.1f'),
                 ('end-to-end MFU', 100 * out['end_to_end_mfu'], '.1f')]
    for label, value, fmt in rows:
        print(f'{label:<28}{value:>12{fmt}}')
    print(f"loadavg start {out['loadavg_start']} end {out['loadavg_end']}")
    return out


def write_json(path, out):
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(out, f, indent=1)
    print(f'wrote {path}')


def main(argv=None):
    args = parse_args(argv)
    malloc_kept = args.malloc == 'keep' and keep_freed_memory()
    from mmengine.config import Config
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    if args.end_to_end:
        out = end_to_end(args, cfg, malloc_kept)
        if args.json:
            write_json(args.json, out)
        return out
    quiet_mmengine()
    device = torch.device(args.device or (
        'cuda' if torch.cuda.is_available() else 'cpu'))
    cuda = device.type == 'cuda'
    size = args.img_size or cfg.model['backbone'].get('img_size', 224)
    if isinstance(size, (list, tuple)):
        size = size[0]

    torch.manual_seed(args.seed)
    entries = build_entries(args, cfg, device, size)
    g = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.batch, 3, size, size, generator=g).to(device)
    load_start = os.getloadavg()
    t_start = time.time()
    sgemm = run_rounds(args, entries, x, device)
    bench_s = time.time() - t_start

    sgemm_rate = median(sgemm) if sgemm else bm.sgemm_rate(
        device, args.sgemm_size)
    peak = bm.H100_BF16_PEAK if cuda else sgemm_rate
    peak_name = ('H100 dense bf16 989 TFLOP/s' if cuda else
                 f'fp32 sgemm {args.sgemm_size}^3 measured in this run')
    results = {name: result_row(args, e, size, peak, cuda)
               for name, e in entries.items()}
    out = dict(
        config=args.config, device=str(device),
        device_name=(torch.cuda.get_device_name(device) if cuda else
                     platform.processor() or platform.machine()),
        cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(),
        torch=torch.__version__, batch=args.batch, img_size=size,
        steps=args.steps, warmup=args.warmup, amp=args.amp,
        compile=args.compile, grad_checkpointing=args.grad_checkpointing,
        malloc_keep_freed=malloc_kept, sgemm_size=args.sgemm_size,
        sgemm_flops_per_s=sgemm_rate,
        sgemm_samples=sgemm, peak_flops_per_s=peak, peak_name=peak_name,
        loadavg_start=load_start, loadavg_end=os.getloadavg(),
        bench_wall_s=bench_s, results=results, ratios=step_ratios(results))
    print_table(out)
    if args.json:
        write_json(args.json, out)
    return out


def print_table(out):
    res = out['results']
    names = list(res)
    w = max(14, *(len(n) + 2 for n in names))

    def line(label, vals):
        print(f'{label:<28}' + ''.join(f'{v:>{w}}' for v in vals))

    print(f"\n{out['config']}  batch {out['batch']}  {out['img_size']}px  "
          f"{out['device']} ({out['device_name']}, {out['torch_threads']} "
          f"threads)  amp={out['amp']}  steps={out['steps']}  "
          f"malloc={'keep' if out.get('malloc_keep_freed') else 'default'}")
    line('', names)
    line('images/s', [f"{res[n]['images_per_s']:.2f}" for n in names])
    line('ms/step (median)', [f"{res[n]['ms_per_step']:.0f}" for n in names])
    spread = []
    for n in names:
        ts = res[n]['step_times_s']
        spread.append(f'{min(ts) * 1e3:.0f}-{max(ts) * 1e3:.0f}')
    line('ms/step (min-max)', spread)
    mem = [res[n]['peak_memory_bytes'] for n in names]
    line('peak memory (MiB)',
         ['-' if m is None else f'{m / 2**20:.0f}' for m in mem])
    keys = []
    for n in names:
        keys += [k for k in res[n]['time_split_ms'] if k not in keys]
    for k in keys:
        line(f'  {k} (ms)', [
            f"{res[n]['time_split_ms'][k]:.0f}"
            if k in res[n]['time_split_ms'] else '-' for n in names])
    line('GFLOP/step', [
        '-' if res[n]['flops_per_step'] is None else
        f"{res[n]['flops_per_step']['total'] / 1e9:.1f}" for n in names])
    line('achieved GFLOP/s', [
        '-' if res[n]['achieved_flops_per_s'] is None else
        f"{res[n]['achieved_flops_per_s'] / 1e9:.1f}" for n in names])
    line('MFU', ['-' if res[n]['mfu'] is None else
                 f"{100 * res[n]['mfu']:.1f}%" for n in names])
    print(f"peak: {out['peak_name']} = "
          f"{out['peak_flops_per_s'] / 1e9:.1f} GFLOP/s")
    for k, v in out['ratios'].items():
        print(f'{k}: {v:.3f}')
    print(f"loadavg start {out['loadavg_start']} end {out['loadavg_end']}")


if __name__ == '__main__':
    main()
