"""Tables of pre-training runs for the report: each tuning grid (every
trial's values, final pre-training loss and validation score, the winner
and whether it sits on the grid's edge) and each row's loss at quarters of
its runs."""
from typing import Dict, List, Optional, Sequence, Tuple

from .stats import fmt_summary, summarize
from .store import Results


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
