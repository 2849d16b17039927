"""``report.md``: the spec's tables (mean ± std over seeds, paired
differences to the reference row with 95% intervals), sentences computed
from those numbers, figures, costs, the setup and what is missing."""
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

from .costs import cost_cells, costs_md, machine_md
from .figures import budget_figure, loss_figure, rows_figure
from .grids import losses_md, tuning_md
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
