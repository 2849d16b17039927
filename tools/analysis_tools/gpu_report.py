"""Summarise a ``gpu_check.sh`` output folder as Markdown for
``docs/benchmarks.md``: every step's outcome (``steps.tsv``), one table per
benchmark JSON, the GPU goals each marked met or missed, the SDPA kernels,
fp32 vs bf16, k-NN and the training run's wall time.

    python tools/analysis_tools/gpu_report.py work_dirs/gpu_check > summary.md
"""
import argparse
import glob
import json
import os.path as osp
from typing import List, Optional

MIB = 2**20
# docs/benchmarks.md, "GPU goals" (H100/H200, bf16, ViT-B/16).
GOALS = dict(fast_vs_reference=2.0, mfu=0.40, semaim_over_mae=1.6)


def _fmt(v: Optional[float], spec: str, scale: float = 1.) -> str:
    return '—' if v is None else format(v * scale, spec)


def bench_table(name: str, run: dict) -> List[str]:
    """Markdown lines for one ``tools/benchmark.py --json`` file."""
    lines = [f'### {name}: {run["device_name"]}, {run["img_size"]} px, '
             f'batch {run["batch"]}, amp={run["amp"]}, '
             f'compile={run["compile"]}, '
             f'grad_checkpointing={run["grad_checkpointing"]}', '',
             '| path | ms/step | images/s | MFU | peak memory (MiB) |',
             '|---|---|---|---|---|']
    for path, r in run['results'].items():
        mem = r.get('peak_memory_bytes')
        lines.append(
            f'| {path} | {r["ms_per_step"]:.1f} | {r["images_per_s"]:.1f} | '
            f'{_fmt(r["mfu"], ".1%")} | {_fmt(mem, ".0f", 1 / MIB)} |')
    for k, v in run.get('ratios', {}).items():
        lines.append(f'- {k}: {v:.2f}')
    return lines + ['']


def goal_lines(runs: dict) -> List[str]:
    """The GPU goals against the 224 px bf16 run (``vitb224``)."""
    run = runs.get('vitb224')
    if run is None or not run['device'].startswith('cuda'):
        return ['GPU goals: not assessed (no CUDA run of vitb224).', '']
    res, ratios = run['results'], run['ratios']
    checks = [
        ('fast / reference images/s', ratios.get(
            'fast_vs_reference_images_per_s'), GOALS['fast_vs_reference'],
         True),
        ('fast-path MFU', res.get('fast', {}).get('mfu'), GOALS['mfu'], True),
        ('SemAIM step / MAE step', ratios.get('fast_over_mae_step_time'),
         GOALS['semaim_over_mae'], False),
    ]
    lines = ['GPU goals (vitb224):', '']
    for label, value, goal, higher in checks:
        if value is None:
            lines.append(f'- {label}: not measured')
            continue
        met = value >= goal if higher else value <= goal
        lines.append(f'- {label}: {value:.2f} (goal {"≥" if higher else "≤"} '
                     f'{goal}) — {"met" if met else "missed"}')
    big = runs.get('vitb448')
    if big is not None and 'fast' in big['results'] and 'fast' in res:
        per_image = [r['results']['fast']['peak_memory_bytes'] / r['batch']
                     for r in (run, big)]
        lines.append(f'- fast-path memory per image 448 / 224 px: '
                     f'{per_image[1] / per_image[0]:.2f} (tokens x4.0; '
                     'linear in tokens means about 4)')
    return lines + ['']


def step_lines(folder: str) -> List[str]:
    """The steps table: ok / failed / skipped, seconds, log."""
    path = osp.join(folder, 'steps.tsv')
    if not osp.exists(path):
        return []
    with open(path) as f:
        rows = [line.rstrip('\n').split('\t') for line in f][1:]
    lines = ['| step | status | s | log |', '|---|---|---|---|']
    lines += [f'| {" | ".join(r)} |' for r in rows if len(r) == 4]
    return lines + ['']


def _load(folder: str, name: str) -> Optional[dict]:
    path = osp.join(folder, f'{name}.json')
    if not osp.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def probe_lines(folder: str) -> List[str]:
    """SDPA kernels, fp32 vs bf16 and k-NN, where those steps ran."""
    lines = []
    sdpa = _load(folder, 'sdpa')
    if sdpa:
        usable = [k for k, v in sdpa['backends_available'].items() if v]
        lines.append(f'- SDPA on {sdpa["device"]}: usable '
                     f'{", ".join(usable) or "none"}; the fast path '
                     'launched '
                     f'{", ".join(sdpa["fast_path_kernels"]) or "no fused"}'
                     ' kernels')
    prec = _load(folder, 'precision')
    if prec:
        lines.append(
            f'- fp32 vs bf16 ({prec["device"]}, batch {prec["batch"]}): '
            f'loss {prec["loss_fp32"]:.5f} vs {prec["loss_bf16"]:.5f} '
            f'(rel. diff {prec["loss_rel_diff"]:.2e}), similarity map max '
            f'|diff| {prec["sim_max_abs_diff"]:.2e}, order centres equal '
            f'{prec["centers_equal"]:.0%}')
    knn = _load(folder, 'knn')
    if knn:
        lines.append('- k-NN (tiny checkpoint): ' + ', '.join(
            f'{k}={v:.2f}' for k, v in knn.items()))
    return lines + [''] if lines else []


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('folder')
    args = p.parse_args()
    runs = {}
    for path in sorted(glob.glob(osp.join(args.folder, '*.json'))):
        with open(path) as f:
            data = json.load(f)
        if 'results' in data:
            runs[osp.splitext(osp.basename(path))[0]] = data
    lines = ['## GPU check', ''] + step_lines(args.folder)
    for name, run in runs.items():
        lines += bench_table(name, run)
    lines += goal_lines(runs)
    lines += probe_lines(args.folder)
    train = osp.join(args.folder, 'train.json')
    if osp.exists(train):
        with open(train) as f:
            t = json.load(f)
        lines.append(f'Training through tools/train.py: {t["iters"]} '
                     f'iterations in {t["wall_s"]} s.')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
