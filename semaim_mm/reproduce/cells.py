"""Committed cells: a report's tables rendered from result JSONs committed
under ``docs/reproduction_cells/<sitting>/`` rather than from a work dir.

A Markdown document marks each generated table with a block

    <!-- cells {"dir": "short_2026-12-02", "images": 16000,
                "table": {"title": ..., "rows": {"row": "label", ...},
                          "columns": [...], "reference": "row",
                          "cost": true}} -->
    ...the table, as rendered...
    <!-- end cells -->

(one line of JSON). ``dir`` is a folder of ``<hash>.json`` cells under
:data:`CELLS_ROOT`; ``images`` is that sitting's main pre-training budget;
``spec`` (default :data:`DEFAULT_SPEC`) names the spec whose columns and
rows the table refers to. ``"curve"`` instead of ``"table"`` renders a
budget curve (``rows``: two pre-training rows, ``flat``: a random-init
row, ``column``); ``"tuning": true`` the spec's validation grids;
``"losses"`` the pre-training loss at quarters of each run (``rows``) and,
with ``figure`` (a path beside the document), the curves' plot;
``"spent": true`` what the sitting's stages cost, per group and host.
:func:`render_doc` re-renders every block; the committed report's test
checks that nothing changes.
"""
import glob
import json
import os
import os.path as osp
import re
from dataclasses import replace
from typing import Callable, Dict, List, Optional, Tuple

from .costs import host_means, spent_md
from .figures import loss_figure
from .grids import losses_md, tuning_md
from .hooks import write_json
from .plan import set_winners
from .report import difference_sentences, table_diffs, table_md
from .spec import INSTALLED, ROOT, SpecError, Table, load_spec
from .stages import Plan, parse_trial
from .stats import (Paired, correct_family, fmt_paired, fmt_summary,
                    paired_difference, pooled_std, summarize)
from .store import RESULT_FILE, Results

CELLS_ROOT = osp.join(ROOT, 'docs', 'reproduction_cells')
DEFAULT_SPEC = 'configs/reproduce/fashion_mnist.py'
BLOCK = re.compile(r'(<!-- cells (\{.*?\}) -->\n)(.*?)(<!-- end cells -->)',
                   re.S)


def load_cells(folder: str) -> Dict[str, dict]:
    """hash -> result of every ``*.json`` cell in ``folder``."""
    path = folder if osp.isabs(folder) else osp.join(CELLS_ROOT, folder)
    cells = {}
    for f in sorted(glob.glob(osp.join(path, '*.json'))):
        with open(f) as fh:
            data = json.load(fh)
        cells[data['hash']] = data
    if not cells:
        raise SpecError(f'no committed cells in {path}')
    return cells


def export_cells(results: Results, name: str) -> Tuple[int, str]:
    """Copy every finished stage of ``results`` (tuning ones included) to
    ``CELLS_ROOT/name/<hash>.json``; refused, before anything is written,
    when a stage ran from a tree with uncommitted changes or outside a
    checkout (a committed number must name the code that made it)."""
    if INSTALLED:
        raise SpecError('--export-cells writes into a checkout\'s docs/; '
                        'run it from the repository')
    unclean = sorted(d['label'] for d in results.by_hash.values()
                     if d['git'].endswith('+dirty') or d['git'] == 'unknown')
    if unclean:
        raise SpecError(
            f'{len(unclean)} finished stage(s) ran from a tree with '
            f'uncommitted changes (first: {unclean[0]}); commit, delete '
            'their stage folders and run them again')
    out = osp.join(CELLS_ROOT, name)
    os.makedirs(out, exist_ok=True)
    aliases = _aliases(results.plan)
    for h, data in results.by_hash.items():
        if h in aliases and data.get('group') == 'tune':
            data = dict(data, also=aliases[h])
        write_json(osp.join(out, f'{h}.json'), data)
    return len(results.by_hash), out


def import_cells(make_plan: Callable[[], Plan], name: str) -> int:
    """Copy the committed cells of ``name`` that are stages of the plan into
    its work dir as finished stages (those without a result there), so a
    sitting goes on from another machine: more seeds without running its
    tuning again. A final row's hashes follow its grid's winner, so the plan
    is rebuilt until no more cells match. An evaluation still to run whose
    pre-training was imported runs that pre-training again (no checkpoint
    travels with a cell). Returns the number of cells copied."""
    cells = load_cells(name)
    copied = 0
    while True:
        plan = make_plan()
        new = [h for h in plan.stages if h in cells and
               not osp.isfile(osp.join(plan.stage_dir(h), RESULT_FILE))]
        if not new:
            return copied
        for h in new:
            os.makedirs(plan.stage_dir(h), exist_ok=True)
            write_json(osp.join(plan.stage_dir(h), RESULT_FILE),
                       {k: v for k, v in cells[h].items() if k != 'also'})
        copied += len(new)


# the plan's maps a cell can be indexed in, keyed by (row, column or
# images, seed)
_MAPS = ('cells', 'pretrains', 'curve')


def _aliases(plan: Plan) -> Dict[str, List[dict]]:
    """hash -> every place of the plan that reuses it, for stages that ran
    first under another name (a winning tuning trial is also its row's
    seed-0 pre-training or evaluation: the same hash)."""
    also: Dict[str, List[dict]] = {}
    for name in _MAPS:
        for key, h in getattr(plan, name).items():
            also.setdefault(h, []).append(dict(map=name, key=list(key)))
    return also


def cell_results(block: dict) -> Results:
    """The block's cells indexed as a plan indexes its stages."""
    spec = load_spec(osp.join(ROOT, block.get('spec', DEFAULT_SPEC)))
    spec = replace(spec, pretrain_images=int(block['images']))
    plan = Plan(spec)
    cells = load_cells(block['dir'])
    for h, c in cells.items():
        if c['row'] not in spec.rows:
            continue
        if c['group'] == 'tune':
            _index_trial(plan, c)
        elif c['kind'] == 'pretrain':
            plan.pretrains[(c['row'], c['images'], c['seed'])] = h
        elif c['group'] == 'curve':
            plan.curve[(c['row'], c['images'], c['seed'])] = h
        else:
            plan.cells[(c['row'], c['column'], c['seed'])] = h
        for a in c.get('also', ()):
            if a['key'][0] in spec.rows:
                getattr(plan, a['map'])[tuple(a['key'])] = h
    results = Results(plan, cells)
    if spec.tune is not None:
        set_winners(results)
    return results


def _index_trial(plan: Plan, cell: dict) -> None:
    """A tuning evaluation's place in its grid, from the values in its
    label (a trial the spec's grid no longer has is left out)."""
    if cell['kind'] == 'pretrain':
        return
    name, params = parse_trial(cell['label'])
    tune = plan.spec.tune
    if name == 'recipe':  # recipe grids are keyed by their column
        key, grid, index = (cell['column'], tune.recipes.get(cell['column']),
                            plan.recipe_tuning)
    else:
        key, grid, index = name, tune.methods.get(name), plan.tuning
    if grid is not None and params in grid.trials:
        index[(key, grid.trials.index(params))] = cell['hash']


def _table(d: dict) -> Table:
    return Table(title=d.get('title', ''), rows=tuple(d['rows'].items()),
                 columns=tuple(d['columns']), reference=d['reference'],
                 cost=bool(d.get('cost', False)),
                 compare_columns=bool(d.get('compare_columns', False)))


def curve_md(results: Results, d: dict) -> str:
    """Per pre-training budget: both rows' mean ± std, the paired
    differences first − second and first − flat (Holm over the table, MDE
    per comparison) and each row's mean pre-training CPU seconds (one mean
    per kind of host)."""
    (a, b), flat, col = d['rows'], d['flat'], d['column']
    title = {r: results.spec.rows[r].title for r in (a, b, flat)}
    images = sorted({i for (r, i, _) in results.plan.curve if r in (a, b)} |
                    {results.spec.pretrain_images})
    flat_cell = results.cell(flat, col)
    raw: Dict[Tuple[int, str], Optional[Paired]] = {}
    for i in images:
        ca = results.curve(a, i)
        raw[(i, b)] = paired_difference(ca, results.curve(b, i))
        raw[(i, flat)] = paired_difference(ca, flat_cell)
    stds = {key: pooled_std([v for k, v in raw.items() if k[1] == key[1]])
            for key in raw}
    diffs = correct_family(raw, stds)
    head = ['pre-train images', title[a], title[b],
            f'Δ {title[a]} − {title[b]} [95% CI]',
            f'Δ {title[a]} − {title[flat]} [95% CI]',
            f'{title[a]} CPU s', f'{title[b]} CPU s']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for i in images:
        cpu = [host_means(results.pretrain(r, i),
                          lambda x: x['record']['train_cpu_s'])
               for r in (a, b)]
        lines.append('| ' + ' | '.join(
            [str(i), fmt_summary(summarize(results.curve(a, i).values())),
             fmt_summary(summarize(results.curve(b, i).values())),
             fmt_paired(diffs[(i, b)]), fmt_paired(diffs[(i, flat)])] +
            cpu) + ' |')
    flat_text = fmt_summary(summarize(list(flat_cell.values())))
    lines.append(f'\n{title[flat]}: {flat_text}.')
    return '\n'.join(lines)


def render_block(block: dict, doc_dir: Optional[str] = None) -> str:
    """A block's Markdown; with ``doc_dir`` its figure (if any) is written
    there too."""
    results = cell_results(block)
    if block.get('tuning'):
        return tuning_md(results)
    if 'losses' in block:
        d = block['losses']
        text = losses_md(results, d['rows'])
        if d.get('figure'):
            if doc_dir is not None:
                loss_figure(results, d['rows'],
                            osp.join(doc_dir, d['figure']))
            text = (f"![pre-training loss, one line per seed]({d['figure']})"
                    '\n\n' + text)
        return text
    if 'curve' in block:
        return curve_md(results, block['curve'])
    if block.get('spent'):
        return spent_md(results.by_hash.values())
    table = _table(block['table'])
    diffs = table_diffs(results, table)
    text = table_md(results, table, diffs)
    if diffs:
        text += '\n\n' + '\n'.join(
            difference_sentences(results, table, diffs))
    return text


def render_doc(path: str,
               write_figures: bool = False) -> Tuple[str, List[str]]:
    """The document with every cells block re-rendered, and the titles of
    the blocks whose text changed; ``write_figures`` also redraws the
    blocks' figures beside the document."""
    doc_dir = osp.dirname(osp.abspath(path)) if write_figures else None
    with open(path) as f:
        text = f.read()
    changed: List[str] = []

    def sub(m) -> str:
        block = json.loads(m.group(2))
        body = render_block(block, doc_dir) + '\n'
        if body != m.group(3):
            kind = ('tuning' if block.get('tuning') else
                    'losses' if 'losses' in block else
                    'spent' if block.get('spent') else '')
            changed.append((block.get('table') or block.get('curve') or
                            {}).get('title', f"{block['dir']} {kind}".strip()))
        return m.group(1) + body + m.group(4)

    return BLOCK.sub(sub, text), changed
