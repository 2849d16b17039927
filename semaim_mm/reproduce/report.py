"""``report.md``: the spec's tables (mean ± std over seeds, paired
differences to the reference row with 95% intervals), sentences computed
from those numbers, figures, costs, the setup and what is missing."""
import os
import os.path as osp
import re
from typing import (Callable, Dict, Iterable, List, Optional, Sequence,
                    Tuple)

from .figures import budget_figure, loss_figure, rows_figure
from .plan import Plan, tuning_state
from .spec import ROOT, Table
from .stats import (Paired, correct_family, fmt_paired, fmt_summary,
                    paired_difference, pooled_std, sentence, summarize)
from .store import Results


def rel(path: str) -> str:
    return osp.relpath(path, ROOT) if path.startswith(ROOT) else path


def entry_title(results: Results, entry: str) -> str:
    name, _, metric = entry.partition(':')
    title = results.spec.columns[name].title
    return f'{title} {metric}' if metric else title


def _mean(values: Sequence[float]) -> str:
    return f'{sum(values) / len(values):.0f}' if values else '—'


def host_kind(machine: dict) -> str:
    """'CPU model xCOUNT' of a stage's machine record."""
    cpu = re.sub(r'\((R|TM)\)| Processor', '', machine.get('cpu', '?'))
    return f"{cpu} x{machine.get('cpu_count', '?')}"


def host_means(runs: List[dict], value: Callable[[dict], float]) -> str:
    """Mean of ``value`` over ``runs``, one mean per kind of host (CPU
    model and count) when the runs come from several: seconds of different
    hosts do not average."""
    by_cpu: Dict[str, List[float]] = {}
    for r in runs:
        by_cpu.setdefault(host_kind(r['machine']), []).append(value(r))
    if len(by_cpu) <= 1:
        return _mean([v for vs in by_cpu.values() for v in vs])
    return '; '.join(f'{_mean(vs)} ({cpu}, n = {len(vs)})'
                     for cpu, vs in sorted(by_cpu.items()))


def tflops(runs: List[dict]) -> str:
    """Mean analytic pre-training TFLOPs of finished runs ('—' when the
    runs predate the FLOPs record)."""
    flops = [r['record'].get('train_flops') for r in runs]
    flops = [f for f in flops if f]
    return f'{sum(flops) / len(flops) / 1e12:.1f}' if flops else '—'


def cost_cells(results: Results, row: str) -> List[str]:
    """Pre-training images, wall-clock and CPU seconds (training loop, mean
    over seeds, per kind of host) and analytic TFLOPs of a row; dashes for
    rows without pre-training."""
    runs = results.pretrain(row)
    if not runs:
        images = results.spec.rows[row].images or results.spec.pretrain_images
        return ['—' if results.spec.rows[row].init != 'pretrained' else
                f'{images} (to do)', '—', '—', '—']
    images = {r['record']['images_seen'] for r in runs}
    return [', '.join(str(i) for i in sorted(images)),
            host_means(runs, lambda r: r['record']['train_wall_s']),
            host_means(runs, lambda r: r['record']['train_cpu_s']),
            tflops(runs)]


def table_diffs(results: Results,
                table: Table) -> Dict[Tuple[str, str], Optional[Paired]]:
    """(column entry, row) -> the paired difference to the table's
    reference row, Holm-corrected over all of the table's comparisons (one
    family per table), with its minimum detectable effect from the pooled
    paired std of its column."""
    ref = table.reference
    raw = {(entry, row): paired_difference(results.cell(row, entry),
                                           results.cell(ref, entry))
           for entry in table.columns for row, _ in table.rows if row != ref}
    stds = {entry: pooled_std([d for (e, _), d in raw.items() if e == entry])
            for entry in table.columns}
    return correct_family(raw, {key: stds[key[0]] for key in raw})


def table_md(results: Results, table: Table,
             diffs: Dict[Tuple[str, str], Optional[Paired]]) -> str:
    lead = table.columns[0]
    ref = table.reference
    head = ['row'] + [entry_title(results, c) for c in table.columns]
    ref_label = dict(table.rows).get(ref, ref)
    # a table of the reference row alone compares columns, not rows
    rows_compared = any(row != ref for row, _ in table.rows)
    if rows_compared:
        head.append(f'Δ {entry_title(results, lead)} vs {ref_label} '
                    '[95% CI]')
    if table.cost:
        head += ['pre-train images', 'wall s', 'CPU s', 'TFLOPs']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for row, label in table.rows:
        cells = [fmt_summary(summarize(list(results.cell(row, c).values())))
                 for c in table.columns]
        delta = (['reference' if row == ref else
                  fmt_paired(diffs[(lead, row)])] if rows_compared else [])
        extra = cost_cells(results, row) if table.cost else []
        lines.append('| ' + ' | '.join([label] + cells + delta + extra) +
                     ' |')
    few = sorted({label for row, label in table.rows for c in table.columns
                  if 0 < len(results.cell(row, c)) < 3})
    if few:
        lines.append(f'\nFewer than 3 seeds for: {"; ".join(few)} (read '
                     'their spread and intervals as rough).')
    if table.compare_columns:
        lines += column_differences(results, table)
    if table.note:
        lines.append('\n' + table.note)
    return '\n'.join(lines)


def column_differences(results: Results, table: Table) -> List[str]:
    """Each column minus the one before it that the row has (a ladder: 1x,
    2x, 4x the epochs; a row may skip a rung), per row, paired over seeds,
    Holm-corrected over these comparisons, with each one's MDE."""
    pairs = []
    for row, _ in table.rows:
        have = [c for c in table.columns if _has(results, row, c)]
        pairs += [(col, prev, row) for prev, col in zip(have, have[1:])]
    pairs.sort(key=lambda key: table.columns.index(key[0]))  # stable: rows
    raw = {key: paired_difference(results.cell(key[2], key[0]),
                                  results.cell(key[2], key[1]))
           for key in pairs}
    labels = dict(table.rows)
    return [f'\n{labels[row]}: {entry_title(results, col)} − '
            f'{entry_title(results, prev)} = {fmt_paired(p)} (paired '
            'over seeds; Holm over these comparisons).'
            for (col, prev, row), p in correct_family(raw).items()]


def difference_sentences(
        results: Results, table: Table,
        diffs: Dict[Tuple[str, str], Optional[Paired]]) -> List[str]:
    """Per column of a table, which rows differ from the table's reference
    row (resolved after Holm's correction) and which do not."""
    labels = dict(table.rows)
    ref = labels.get(table.reference, table.reference)
    out = []
    for entry in table.columns:
        others = {label: diffs[(entry, r)] for r, label in table.rows
                  if r != table.reference and _has(results, r, entry)}
        out.append(sentence(entry_title(results, entry), ref, others)
                   if others else
                   f'- {entry_title(results, entry)}: no row but {ref} has '
                   'this column.')
    return out


def _has(results: Results, row: str, entry: str) -> bool:
    """Whether the spec gives ``row`` the column of ``entry`` (a row the
    spec no longer has counts as having it)."""
    rows = results.spec.rows
    return row not in rows or entry.partition(':')[0] in rows[row].columns


def missing_cells(results: Results) -> List[str]:
    """'column: row (seeds ...)' for every unfinished table cell."""
    miss = {}
    for (row, col, seed), h in results.plan.cells.items():
        if not results.done(h):
            miss.setdefault(col, {}).setdefault(row, []).append(seed)
    for (row, images, seed), h in results.plan.curve.items():
        if not results.done(h):
            miss.setdefault(f'budget curve @ {images} images', {}).setdefault(
                row, []).append(seed)
    lines = [f'- {col}: ' + ', '.join(
        f"{row} (seed{'s' if len(s) > 1 else ''} "
        f"{', '.join(map(str, s))})" for row, s in rows.items())
        for col, rows in miss.items()]
    waiting = [r for r in results.spec.rows if tuning_state(results.plan, r)]
    if waiting:
        lines.append('- every cell of ' + ', '.join(waiting) + ': waiting '
                     'for their tuning grid (`--tune`)')
    return lines


def setup_md(results: Results) -> str:
    spec = results.spec
    plan = results.plan
    lines = ['| column | config | labels | length | metric |',
             '|---|---|---|---|---|']
    used = {c for r in spec.rows.values() for c in r.columns}
    for name, c in spec.columns.items():
        if name not in used:
            continue
        labels = f'{100 * c.label_fraction:g}% (class-balanced)' \
            if c.label_fraction else 'all'
        n = c.epochs or c.iters
        unit = 'epoch' if c.epochs else 'iteration'
        length = f"{n} {unit}{'s' if n != 1 else ''}" if n else '—'
        lines.append(f'| {c.title} | `{rel(c.config)}` | {labels} | '
                     f'{length} | `{c.metrics[c.primary]}` (last) |')
    budgets = {}
    for (row, images, _), h in plan.pretrains.items():
        st = plan.stages[h]
        if images == (spec.rows[row].images or spec.pretrain_images):
            key = (images, st.cfg.train_cfg.max_iters,
                   st.cfg.train_dataloader.batch_size)
            budgets.setdefault(key, []).append(row)
    text = '; '.join(
        f'{i} images = {it} iterations x batch {b} '
        f"({', '.join(dict.fromkeys(rows))})"
        for (i, it, b), rows in sorted(budgets.items()))
    return (f'Pre-training budget per row: {text or "none"}.\n\n' +
            '\n'.join(lines))


def _final_loss(results: Results, h: Optional[str]) -> str:
    """The last window mean of the loss curve of evaluation ``h``'s
    pre-training ('—' until that pre-training has finished)."""
    stage = results.plan.stages.get(h) if h else None
    dep = (results.by_hash.get(h) or {}).get('depends') if h else None
    dep = dep or (stage.depends if stage else None)
    curve = ((results.by_hash.get(dep) or {}).get('record') or {}).get(
        'loss_curve') if dep else None
    return f'{curve[-1][1]:.4f}' if curve else '—'


def _grid_md(results: Results, heading: str, column: str, grid,
             hashes: Dict[Tuple[str, int], str],
             winner: Optional[dict], pretrained: bool = False) -> str:
    """One grid: every trial's values and validation score, the winner;
    for a method's grid (``pretrained``) also each trial's final
    pre-training loss, so a diverged or stalled run shows."""
    keys = [k for k, _ in grid.axes]
    title = results.spec.columns[column].title
    head = [f'`{k}`' for k in keys] + (
        ['final pre-training loss'] if pretrained else []) + [
        f'{title} (validation)']
    lines = ['| trial | ' + ' | '.join(head) + ' |',
             '|' + '---|' * (len(head) + 1)]
    for i, params in enumerate(grid.trials):
        h = hashes.get((grid.name, i))
        score = results.metric(h, column)
        text = '—' if score is None else f'{score:.2f}'
        if params == winner:
            text = f'**{text}** (winner)'
        cells = [f'{params[k]:g}' if isinstance(params[k], float) else
                 str(params[k]) for k in keys]
        if pretrained:
            cells.append(_final_loss(results, h))
        lines.append(f'| {i} | ' + ' | '.join(cells + [text]) + ' |')
    state = 'unfinished: its rows wait' if winner is None else \
        'winner: ' + ', '.join(f'`{k}` = {v}' for k, v in winner.items())
    edges = grid_edges(grid, winner)
    if edges:
        lines += ['', 'The winner is on the edge of the grid for ' +
                  ', '.join(f'`{k}`' for k in edges) + ': the best value '
                  'may lie outside it; widen the grid before trusting it.']
    return (f'### {heading} ({len(grid.trials)} trials; {state})\n\n' +
            '\n'.join(lines))


def grid_edges(grid, winner: Optional[dict]) -> List[str]:
    """The numeric axes (3 or more values) on whose first or last value the
    winner sits."""
    if winner is None:
        return []
    return [k for k, values in grid.axes
            if len(values) >= 3 and all(isinstance(v, (int, float))
                                        for v in values)
            and winner[k] in (min(values), max(values))]


def tuning_md(results: Results) -> str:
    """Every grid with its validation score per trial and the winner (the
    values its final stages use): the recipe grids, then the methods'."""
    spec, plan = results.spec, results.plan
    tune = spec.tune
    budget = f'{tune.images} images' if tune.images else "its row's budget"
    parts = [f'One seed ({tune.seed}); every trial is scored on the tuning '
             'split (never the test split); the best score wins (the first '
             'of equal scores). Recipe grids run first, on an '
             "initialisation row; their winner is the column's recipe for "
             'every row. Each method trial then pre-trains at '
             f'{budget} and is scored by '
             f'{spec.columns[tune.column].title}; its winner feeds the rows '
             'listed.']
    for col, grid in tune.recipes.items():
        parts.append(_grid_md(
            results, f'{spec.columns[col].title} recipe (on row {grid.row})',
            col, grid, plan.recipe_tuning, plan.recipe_winners.get(col)))
    for name, method in tune.methods.items():
        fed = ', '.join((method.row, ) + method.apply_to)
        parts.append(_grid_md(results, f'{name} (rows {fed})', tune.column,
                              method, plan.tuning, plan.winners.get(name),
                              pretrained=True))
    return '\n\n'.join(parts)


LOSS_POINTS = (0.25, 0.5, 0.75, 1.0)


def loss_at(curve: Sequence[Sequence[float]], fraction: float) -> float:
    """The window-mean loss of the last window ending at or before
    ``fraction`` of a run (``curve``: [iteration, loss] pairs)."""
    end = curve[-1][0]
    points = [loss for it, loss in curve if it <= fraction * end]
    return points[-1] if points else curve[0][1]


def losses_md(results: Results, rows: Sequence[str]) -> str:
    """Per pre-training row at its main budget: the training loss (window
    mean) at quarters of the run, mean ± std over seeds, and its change
    over the last quarter in percent; a change near 0 says the row had
    flattened where it stopped."""
    spec = results.spec
    head = (['row', 'seeds'] + [f'loss at {p:.0%}' for p in LOSS_POINTS] +
            ['last quarter, % change'])
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for row in rows:
        curves = [r['record']['loss_curve'] for r in results.pretrain(row)
                  if r['record'].get('loss_curve')]
        cells = [fmt_summary(summarize([loss_at(c, p) for c in curves]), 4)
                 for p in LOSS_POINTS]
        change = summarize([100 * (loss_at(c, 1.0) / loss_at(c, 0.75) - 1)
                            for c in curves])
        lines.append('| ' + ' | '.join(
            [spec.rows[row].title, str(len(curves))] + cells +
            [fmt_summary(change, 1)]) + ' |')
    return '\n'.join(lines)


def spent_md(runs: Iterable[dict]) -> str:
    """What finished stages cost, per stage group (tuning grids, final
    rows, budget curve) and kind of host: stage count, wall-clock and CPU
    hours of the whole stage (data loading and evaluation included)."""
    groups: Dict[Tuple[str, str], List[dict]] = {}
    for r in runs:
        groups.setdefault((r.get('group', 'main'), host_kind(r['machine'])),
                          []).append(r)
    names = dict(tune='tuning grids', main='final rows', curve='budget curve')
    lines = ['| stages | host | count | wall h | CPU h |',
             '|---|---|---|---|---|']
    for (group, host), rs in sorted(groups.items()):
        lines.append(f'| {names.get(group, group)} | {host} | {len(rs)} | '
                     f"{sum(r['wall_s'] for r in rs) / 3600:.2f} | "
                     f"{sum(r['cpu_s'] for r in rs) / 3600:.2f} |")
    return '\n'.join(lines)


def costs_md(results: Results) -> str:
    """Pre-training cost of every row and the mean cost of each column's
    stages (for sizing a run; wall clock depends on the machine's load)."""
    spec = results.spec
    lines = ['| row | pre-train images | wall s | CPU s | TFLOPs | '
             'images / CPU s |', '|---|---|---|---|---|---|']
    for name, row in spec.rows.items():
        runs = results.pretrain(name)
        if row.init == 'pretrained' and runs:
            images, wall, cpu, flops = cost_cells(results, name)
            rate = host_means(runs, lambda r: r['record']['images_seen'] /
                               r['record']['train_cpu_s'])
            lines.append(f'| {row.title} | {images} | {wall} | {cpu} | '
                         f'{flops} | {rate} |')
    lines += ['', '| column | stages | mean wall s | mean CPU s |',
              '|---|---|---|---|']
    for name, col in spec.columns.items():
        runs = [r for r in results.by_hash.values() if r['column'] == name]
        if runs:
            lines.append(f'| {col.title} | {len(runs)} | '
                         f"{host_means(runs, lambda r: r['wall_s'])} | "
                         f"{host_means(runs, lambda r: r['cpu_s'])} |")
    return '\n'.join(lines)


def machine_md(results: Results) -> str:
    machines, commands, commits = results.machine()
    lines = [f'- command: `{c}`' for c in commands]
    for m in machines:
        lines.append(f"- machine: {m.get('cpu_count')} CPU(s) "
                     f"({m.get('cpu')}), torch {m.get('torch')} with "
                     f"{m.get('torch_threads')} thread(s), "
                     f"{m.get('platform')}")
    loads = [r['machine']['load_start'][0]
             for r in results.by_hash.values()]
    if loads:
        lines.append(f'- load average at stage start: {min(loads):.1f} to '
                     f'{max(loads):.1f} (other jobs slow the wall clock; '
                     'CPU seconds are less affected)')
    lines.append(f"- git: {', '.join(commits) or '—'}")
    return '\n'.join(lines)


def figures_md(results: Results, out_dir: str) -> str:
    spec = results.spec
    parts = []
    if spec.curve and budget_figure(
            results, osp.join(out_dir, 'fig_budget.png')):
        parts.append('![accuracy against pre-training budget]'
                     '(fig_budget.png)')
    rows = [r for t in spec.tables for r, _ in t.rows
            if spec.lead in spec.rows[r].columns]
    if rows_figure(results, list(dict.fromkeys(rows)), spec.lead,
                   osp.join(out_dir, 'fig_rows.png')):
        parts.append('![lead column per row](fig_rows.png)')
    pretrained = [r for r, row in spec.rows.items()
                  if row.init == 'pretrained' and results.pretrain(r)]
    if loss_figure(results, pretrained, osp.join(out_dir, 'fig_loss.png')):
        parts.append('![pre-training loss curves, one line per seed: where '
                     'each row stopped](fig_loss.png)')
        parts.append(losses_md(results, pretrained))
    return '\n\n'.join(parts) or '(no finished cells yet)'


def render(plan: Plan, out_dir: str,
           extra: Optional[List[str]] = None) -> str:
    """The whole report as Markdown (figures written into ``out_dir``)."""
    results = Results(plan)
    spec = results.spec
    done = sum(results.done(h) for h in plan.cells.values())
    missing = missing_cells(results)
    seeds = ', '.join(map(str, spec.seeds))
    sections = [
        f'# {spec.title}', machine_md(results),
        f'Spec `{rel(osp.abspath(spec.path))}`, seeds {seeds}'
        f' (rows may set their own); {done} of {len(plan.cells)} table '
        'cells finished.',
        'Each number is the top-1 (or AP / mIoU) on the reported split '
        '(the test split; for the mosaics the reported half of the '
        'validation canvases), read once, after the last epoch or '
        'iteration of its evaluation; recipes are chosen on the '
        'validation split only (see "Tuning on validation"); mean ± '
        "sample std over seeds; Δ = paired difference to the table's "
        'reference row over the seeds both have, with its 95% '
        't-interval; * = resolved by a paired t-test after Holm\'s '
        'correction over all of the table\'s comparisons (family-wise '
        'alpha 0.05). Every unresolved difference carries its minimum '
        'detectable effect (MDE: the true difference a paired two-sided '
        'test at alpha 0.05 finds with 80% power, from the pooled paired '
        'std of its column and its number of seeds).']
    for t in spec.tables:
        diffs = table_diffs(results, t)
        text = f'## {t.title}\n\n' + table_md(results, t, diffs)
        if diffs:  # a one-row table compares its columns by eye
            text += ('\n\nWhich differences are resolved:\n\n' + '\n'.join(
                difference_sentences(results, t, diffs)))
        sections.append(text)
    if spec.tune:
        sections.append('## Tuning on validation\n\n' + tuning_md(results))
    sections.append('## Figures\n\n' + figures_md(results, out_dir))
    sections += extra or []
    sections.append('## Setup\n\n' + setup_md(results))
    sections.append('## Costs\n\nPre-training: the training loop, mean '
                    'over seeds. Columns: whole stages (building, training, '
                    'the final evaluation).\n\n' + costs_md(results))
    sections.append('## Missing cells\n\n' +
                    ('\n'.join(missing) if missing else 'None.'))
    if spec.notes:
        sections.append('## Notes\n\n' + '\n'.join(f'- {n}'
                                                   for n in spec.notes))
    return '\n\n'.join(sections) + '\n'


def write_report(plan: Plan, out_file: Optional[str] = None,
                 extra: Optional[List[str]] = None) -> str:
    out_file = out_file or osp.join(plan.spec.work_dir, 'report.md')
    os.makedirs(osp.dirname(out_file), exist_ok=True)
    text = render(plan, osp.dirname(out_file), extra)
    with open(out_file, 'w') as f:
        f.write(text)
    return out_file
