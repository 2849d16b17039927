"""Finished stages (their ``result.json``) looked up by row, column, seed."""
import json
import os.path as osp
import statistics
from typing import Dict, List, Optional, Tuple

from .stages import Plan, Stage

RESULT_FILE = 'result.json'


class Results:
    """The results of a plan's finished stages (a ``result.json`` counts
    only when its hash is the stage's: results of an older recipe do not)."""

    def __init__(self, plan: Plan,
                 cells: Optional[Dict[str, dict]] = None) -> None:
        """``cells``: hash -> result, instead of the plan's work dir (a
        committed record, :mod:`semaim_mm.reproduce.cells`)."""
        self.plan = plan
        self.spec = plan.spec
        self.by_hash: Dict[str, dict] = dict(cells or {})
        for h in ([] if cells is not None else plan.stages):
            path = osp.join(plan.stage_dir(h), RESULT_FILE)
            if osp.isfile(path):
                with open(path) as f:
                    data = json.load(f)
                if data.get('hash') == h:
                    self.by_hash[h] = data

    def done(self, h: str) -> bool:
        return h in self.by_hash

    def to_run(self, stages: List[Stage]) -> List[Stage]:
        """The stages without a result, plus each finished pre-training
        whose checkpoint is gone (a pruned work dir, results copied from
        another machine) while an evaluation still to run needs it."""
        todo = {st.hash for st in stages if not self.done(st.hash)}
        needed = {st.depends for st in stages if st.hash in todo}
        todo |= {st.hash for st in stages if st.kind == 'pretrain'
                 and st.hash in needed and not osp.isfile(st.checkpoint)}
        return [st for st in stages if st.hash in todo]

    def failed(self, h: str) -> bool:
        return not self.done(h) and osp.isfile(
            osp.join(self.plan.stage_dir(h), 'error.txt'))

    def metric(self, h: Optional[str], entry: str) -> Optional[float]:
        """``entry`` = 'column' (its primary metric) or 'column:metric'."""
        data = self.by_hash.get(h) if h else None
        if data is None:
            return None
        name, _, short = entry.partition(':')
        col = self.spec.columns[name]
        value = data['metrics'].get(col.metrics[short or col.primary])
        return None if value is None else float(value) * col.scale

    def cell(self, row: str, entry: str) -> Dict[int, float]:
        """seed -> value of one table cell."""
        name = entry.partition(':')[0]
        out = {}
        for (r, c, seed), h in self.plan.cells.items():
            if r == row and c == name:
                v = self.metric(h, entry)
                if v is not None:
                    out[seed] = v
        return out

    def curve(self, row: str, images: int) -> Dict[int, float]:
        """seed -> budget-curve column value at ``images`` pre-training
        images (the main budget comes from the table cells)."""
        spec = self.spec
        if images == (spec.rows[row].images or spec.pretrain_images):
            return self.cell(row, spec.curve.column)
        return {seed: v for (r, i, seed), h in self.plan.curve.items()
                if r == row and i == images
                for v in [self.metric(h, spec.curve.column)] if v is not None}

    def pretrain(self, row: str, images: Optional[int] = None) -> List[dict]:
        """Finished pre-training results of a row (main budget by default)."""
        spec = self.spec
        images = images or spec.rows[row].images or spec.pretrain_images
        return [self.by_hash[h] for (r, i, s), h in self.plan.pretrains.items()
                if r == row and i == images and h in self.by_hash]

    def machine(self) -> Tuple[List[dict], List[str], List[str]]:
        """Machines, commands and git commits behind the finished stages."""
        runs = list(self.by_hash.values())
        machines = {json.dumps({k: v for k, v in r['machine'].items()
                                if not k.startswith('load')}, sort_keys=True)
                    for r in runs}
        commands = list(dict.fromkeys(r.get('command', '?') for r in runs))
        commits = list(dict.fromkeys(r.get('git', '?') for r in runs))
        return [json.loads(m) for m in sorted(machines)], commands, commits


def estimate(stage: Stage, results: Results) -> Optional[float]:
    """Seconds a to-do stage may take, from finished ones: pre-training at
    the median seconds per image of the same row (else the same config),
    evaluations at the median of the same column."""
    spec, done = results.spec, list(results.by_hash.values())
    if stage.kind == 'pretrain':
        for same in (lambda r: r['row'] == stage.row,
                     lambda r: spec.rows.get(r['row']) is not None and
                     spec.rows[r['row']].pretrain ==
                     spec.rows[stage.row].pretrain):
            rates = [r['wall_s'] / r['images'] for r in done
                     if r['kind'] == 'pretrain' and r['images'] and same(r)]
            if rates:
                return statistics.median(rates) * stage.images
        return None
    walls = [r['wall_s'] for r in done if r['column'] == stage.column]
    return statistics.median(walls) if walls else None


def _fmt_seconds(s: Optional[float]) -> str:
    if s is None:
        return '?'
    return f'{s / 3600:.1f} h' if s >= 5400 else (
        f'{s / 60:.0f} min' if s >= 120 else f'{s:.0f} s')


def dry_run_lines(stages: List[Stage], results: Results) -> List[str]:
    """The stages, their status and, for the to-do ones, an estimate."""
    lines = [f"{'status':7} {'hash':16} {'est.':>7}  stage"]
    todo, total, unknown = 0, 0.0, 0
    rerun = {st.hash for st in results.to_run(stages)
             if results.done(st.hash)}
    for st in stages:
        status = 'redo' if st.hash in rerun else (
            'done' if results.done(st.hash) else (
                'failed' if results.failed(st.hash) else 'to do'))
        est = None if status == 'done' else estimate(st, results)
        if status != 'done':
            todo += 1
            total += est or 0.0
            unknown += est is None
        shown = '' if status == 'done' else _fmt_seconds(est)
        lines.append(f'{status:7} {st.hash} {shown:>7}  {st.label}')
    done = len(stages) - todo
    tail = f'{len(stages)} stages: {done} done, {todo} to do'
    if todo:
        if unknown == todo:
            tail += '; no estimate yet (no finished stage of their kinds)'
        elif unknown:
            tail += f'; estimated {_fmt_seconds(total)}'
            tail += (f' for {todo - unknown} of them ({unknown} without an '
                     'estimate: no finished stage of their kind yet)')
        else:
            tail += f'; estimated {_fmt_seconds(total)}'
    return lines + [tail]
