"""The report's figures (matplotlib, Agg): accuracy against pre-training
budget, and the lead column per row with its paired differences."""
from typing import List, Optional

from .costs import host_kind
from .stats import paired_difference, summarize
from .store import Results

COLORS = ('tab:red', 'tab:blue', 'tab:green', 'tab:purple', 'tab:orange',
          'tab:brown')


def _plt():
    import matplotlib
    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt
    return plt


def _curve_points(results: Results, row: str):
    """(images, mean, std, mean train-loop CPU s, mean FLOPs) per budget
    with results; no CPU seconds where the runs come from several kinds of
    host."""
    spec = results.spec
    main = spec.rows[row].images or spec.pretrain_images
    points = []
    for images in sorted(set(spec.curve.images) | {main}):
        s = summarize(list(results.curve(row, images).values()))
        if s is None:
            continue
        runs = results.pretrain(row, images)
        # seconds of different kinds of host do not average
        one_host = len({host_kind(r['machine']) for r in runs}) == 1
        cpu = [r['record']['train_cpu_s'] for r in runs] if one_host else []
        flops = [r['record'].get('train_flops') for r in runs]
        flops = [f for f in flops if f]
        points.append((images, s.mean, s.std or 0.0,
                       sum(cpu) / len(cpu) if cpu else None,
                       sum(flops) / len(flops) if flops else None))
    return points


def budget_figure(results: Results, out_file: str) -> Optional[str]:
    """Lead column against pre-training images, CPU seconds and analytic
    FLOPs; random-init rows as flat bands. None if no data."""
    spec = results.spec
    curve = spec.curve
    series = {r: _curve_points(results, r) for r in curve.rows}
    if not any(series.values()):
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), sharey=True)
    for (row, pts), color in zip(series.items(), COLORS):
        if not pts:
            continue
        label = spec.rows[row].title
        x, y, e, cpu, flops = zip(*pts)
        axes[0].errorbar(x, y, yerr=e, marker='o', capsize=3, color=color,
                         label=label)
        for ax, cost in ((axes[1], cpu), (axes[2], flops)):
            have = [(c, m, s) for c, m, s in zip(cost, y, e) if c]
            if have:
                cx, cy, ce = zip(*have)
                ax.errorbar(cx, cy, yerr=ce, marker='o', capsize=3,
                            color=color, label=label)
    for row, color in zip(curve.flat_rows, COLORS[len(curve.rows):]):
        s = summarize(list(results.cell(row, curve.column).values()))
        if s is None:
            continue
        for ax in axes:
            ax.axhline(s.mean, color=color, linestyle='--',
                       label=f'{spec.rows[row].title} (no pre-training)')
            if s.std:
                ax.axhspan(s.mean - s.std, s.mean + s.std, color=color,
                           alpha=0.12)
    title = spec.columns[curve.column].title
    axes[0].set_xscale('log', base=2)
    axes[0].set_xlabel('pre-training images (equal for every row)')
    axes[1].set_xlabel('pre-training CPU seconds (training loop; budgets '
                       'run on one kind of host only)')
    axes[2].set_xlabel('pre-training FLOPs (analytic, '
                       'semaim_mm/profiling/flops.py)')
    axes[0].set_ylabel(f'{title} (mean ± std over seeds)')
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f'{title} against the pre-training budget')
    fig.tight_layout()
    fig.savefig(out_file, dpi=120)
    plt.close(fig)
    return out_file


def loss_figure(results: Results, rows: List[str],
                out_file: str) -> Optional[str]:
    """Pre-training loss of ``rows`` against iteration, one line per seed, a
    colour per row (main budget). None when no finished run recorded a
    curve."""
    spec = results.spec
    curves = {row: [r['record']['loss_curve'] for r in results.pretrain(row)
                    if r['record'].get('loss_curve')] for row in rows}
    curves = {r: c for r, c in curves.items() if c}
    if not curves:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (row, runs) in enumerate(curves.items()):
        color = COLORS[i % len(COLORS)]
        for j, points in enumerate(runs):
            x, y = zip(*points)
            ax.plot(x, y, color=color, alpha=0.7, linewidth=1,
                    label=spec.rows[row].title if j == 0 else None)
    ax.set_xlabel('pre-training iteration')
    ax.set_ylabel('training loss (window mean)')
    ax.set_yscale('log')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle('Pre-training loss: where each row stopped')
    fig.tight_layout()
    fig.savefig(out_file, dpi=120)
    plt.close(fig)
    return out_file


def rows_figure(results: Results, rows: List[str], column: str,
                out_file: str) -> Optional[str]:
    """Left: the column's mean ± std per row (seeds as grey dots). Right:
    the paired difference to the reference row with its 95% interval
    (green: the interval excludes 0, before the table's Holm correction)."""
    spec = results.spec
    cells = {r: results.cell(r, column) for r in rows}
    rows = [r for r in rows if cells[r]]
    if not rows:
        return None
    ref = spec.reference
    plt = _plt()
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(10, 0.4 * len(rows) + 1.8), sharey=True)
    ys = list(range(len(rows)))[::-1]
    for y, r in zip(ys, rows):
        s = summarize(list(cells[r].values()))
        left.plot(list(cells[r].values()), [y] * len(cells[r]), '.',
                  color='0.6', markersize=6)
        left.errorbar(s.mean, y, xerr=s.std or 0.0, fmt='o', capsize=4,
                      color='tab:red' if r == ref else 'tab:blue')
        p = paired_difference(cells[r], cells.get(ref) or {})
        if p is not None and r != ref:
            err = None if p.low is None else [[p.mean - p.low],
                                              [p.high - p.mean]]
            right.barh(y, p.mean, xerr=err, capsize=4, height=0.6,
                       color='tab:green' if p.resolved else 'tab:gray')
    left.set_yticks(ys)
    left.set_yticklabels([spec.rows[r].title for r in rows], fontsize=8)
    title = spec.columns[column].title
    left.set_title('mean ± std over seeds (grey: seeds)', fontsize=9)
    right.set_title(f'Δ vs {spec.rows[ref].title}, paired (95% CI; '
                    'green: excludes 0, before Holm)', fontsize=9)
    right.axvline(0, color='black', linewidth=0.8)
    lo, hi = right.get_xlim()
    pad = 0.1 * (hi - lo)
    right.set_xlim(min(lo, -pad), max(hi, pad))
    for ax in (left, right):
        ax.set_xlabel(f'{title} (points)', fontsize=9)
        ax.grid(axis='x', alpha=0.3)
    fig.suptitle(f'{title} per row')
    fig.tight_layout()
    fig.savefig(out_file, dpi=120)
    plt.close(fig)
    return out_file
