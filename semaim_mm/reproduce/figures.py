"""The report's figures (matplotlib, Agg): accuracy against pre-training
budget, and the lead column per row with its paired differences."""
from typing import List, Optional

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
    """(images, mean, std, mean train-loop CPU s) per budget with results."""
    spec = results.spec
    main = spec.rows[row].images or spec.pretrain_images
    points = []
    for images in sorted(set(spec.curve.images) | {main}):
        s = summarize(list(results.curve(row, images).values()))
        if s is None:
            continue
        cpu = [r['record']['train_cpu_s']
               for r in results.pretrain(row, images)]
        points.append((images, s.mean, s.std or 0.0,
                       sum(cpu) / len(cpu) if cpu else None))
    return points


def budget_figure(results: Results, out_file: str) -> Optional[str]:
    """Lead column against pre-training images (left) and pre-training CPU
    seconds (right); random-init rows as flat bands. None if no data."""
    spec = results.spec
    curve = spec.curve
    series = {r: _curve_points(results, r) for r in curve.rows}
    if not any(series.values()):
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for (row, pts), color in zip(series.items(), COLORS):
        if not pts:
            continue
        label = spec.rows[row].title
        x, y, e, cpu = zip(*pts)
        axes[0].errorbar(x, y, yerr=e, marker='o', capsize=3, color=color,
                         label=label)
        with_cpu = [(c, m, s) for c, m, s in zip(cpu, y, e) if c]
        if with_cpu:
            cx, cy, ce = zip(*with_cpu)
            axes[1].errorbar(cx, cy, yerr=ce, marker='o', capsize=3,
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
    axes[1].set_xlabel('pre-training CPU seconds (training loop)')
    axes[0].set_ylabel(f'{title} (mean ± std over seeds)')
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f'{title} against the pre-training budget')
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
