"""Stages of a matrix: ``pretrain(row, seed, images)`` and
``evaluate(row, column, seed)``, each keyed by a hash of its full resolved
config (an evaluation's hash includes its pre-training's hash).

A spec with a ``tune`` section first has tuning stages: the recipe grids
(an evaluation recipe on a random-init row), then, once the tuning column's
recipe is known, each grid point of each method pre-trained (one seed) and
evaluated on that column's validation data. A row's final stages exist once
its method's trials and its columns' recipe grids have finished; they use
the winners' values. Final evaluations read
the reported split (the columns' ``test_overrides``), tuning ones never.

A stage that two rows share (the same resolved config) exists once: a
decoder-depth row equal to the default depth reuses the default row's runs.
"""
import copy
import hashlib
import json
import os.path as osp
from typing import Dict, Iterable, List, Optional

from mmengine.config import Config

from .configs import (check_stage, check_tuning, held_out, merge,
                      pixel_backbone, prepare_training, set_key, set_warmup,
                      wrap_subset)
from .spec import LENGTH, WARMUP, Column, Method, Row, Spec, SpecError
from .stages import Plan, Stage
from .store import Results

# Bump when the harness changes what a stage computes (old results then
# stop matching and run again).
HARNESS_VERSION = 1


# Config keys that do not change what a stage computes: which modules
# register the types it names.
UNHASHED_KEYS = ('custom_imports', )


def stage_hash(kind: str, cfg: Config, seed: int,
               depends: Optional[str]) -> str:
    config = {k: v for k, v in cfg.to_dict().items()
              if k not in UNHASHED_KEYS}
    blob = json.dumps(dict(harness=HARNESS_VERSION, kind=kind, seed=seed,
                           depends=depends, config=config),
                      sort_keys=True, default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class _Configs:
    """``Config.fromfile`` once per file; stages get deep copies."""

    def __init__(self) -> None:
        self.cache: Dict[str, Config] = {}

    def load(self, path: str) -> Config:
        if path not in self.cache:
            self.cache[path] = Config.fromfile(path)
        return copy.deepcopy(self.cache[path])


def _pretrain(plan: Plan, configs: _Configs, row: Row, seed: int,
              images: int, group: str, params: Optional[dict] = None,
              trial: Optional[str] = None) -> Stage:
    """``params``: a grid point's (or the winner's) values, applied after
    the spec's pre-training overrides and before the row's own."""
    spec = plan.spec
    cfg = configs.load(row.pretrain)
    params = dict(params or {})
    warmup = params.pop(WARMUP, None)
    for overrides in (spec.train_overrides, spec.pretrain_overrides, params,
                      row.overrides):
        merge(cfg, overrides)
    batch = int(cfg.train_dataloader.batch_size)
    if images % batch:
        raise SpecError(f'row {row.name!r}: the budget {images} images is '
                        f'not a multiple of its batch size {batch}')
    prepare_training(cfg, images // batch, validate=False)
    if warmup is not None:
        set_warmup(cfg, warmup)
    for key in ('randomness.seed', ) + row.seed_keys:
        set_key(cfg, key, seed)
    check_stage(cfg, 'pretrain')
    h = stage_hash('pretrain', cfg, seed, None)
    work = osp.join(plan.stage_dir(h), 'work')
    cfg.work_dir = work
    stage = Stage(h, 'pretrain', row.name, None, seed, images, group, cfg,
                  checkpoint=osp.join(work, f'iter_{images // batch}.pth'),
                  trial=trial)
    if group != 'tune':
        plan.pretrains[(row.name, images, seed)] = h
    return plan.add(stage)


def _init(cfg: Config, row: Row, col: Column,
          pre: Optional[Stage]) -> None:
    if row.init == 'pixels':
        pixel_backbone(cfg, col.kind)
    elif row.init == 'random':
        set_key(cfg, col.init_key, None)
    else:
        set_key(cfg, col.init_key,
                dict(col.init_cfg, checkpoint=f'<pretrain {pre.hash}>'))


def _evaluate(plan: Plan, configs: _Configs, row: Row, col: Column,
              seed: int, pre: Optional[Stage], group: str,
              trial: Optional[str] = None,
              recipe: Optional[dict] = None) -> Stage:
    """A final evaluation (reads the reported split) or, in group 'tune', a
    tuning one (reads the tuning split; refused if that is the test
    split or the final cells' data). ``recipe``: a recipe grid's point or
    winner (config keys and the ``length`` axis)."""
    spec = plan.spec
    cfg = configs.load(col.config)
    recipe = dict(recipe or {})
    length = recipe.pop(LENGTH, None) or col.epochs or col.iters
    if col.kind == 'train':
        merge(cfg, spec.train_overrides)
    merge(cfg, col.overrides)
    merge(cfg, row.eval_overrides.get(col.name))
    merge(cfg, recipe)
    if group == 'tune':
        final = copy.deepcopy(cfg)
        merge(final, col.test_overrides)
        merge(cfg, col.tune_overrides)
        check_tuning(held_out(cfg, col.kind), held_out(final, col.kind),
                     f'column {col.name!r}')
    else:
        merge(cfg, col.test_overrides)
    labelled = 'knn.bank_dataset' if col.kind == 'knn' else \
        'train_dataloader.dataset'
    wrap_subset(cfg, labelled, col.label_fraction, seed)
    _init(cfg, row, col, pre)
    if col.kind == 'train':
        prepare_training(cfg, length, validate=True)
    set_key(cfg, 'randomness.seed', seed)
    check_stage(cfg, col.kind)
    depends = pre.hash if pre else None
    h = stage_hash(col.kind, cfg, seed, depends)
    if pre is not None:
        set_key(cfg, f'{col.init_key}.checkpoint', pre.checkpoint)
    cfg.work_dir = osp.join(plan.stage_dir(h), 'work')
    return plan.add(Stage(h, col.kind, row.name, col.name, seed,
                          pre.images if pre else 0, group, cfg, depends,
                          trial=trial))


def _budget(spec: Spec, row: Row) -> int:
    return row.images or spec.pretrain_images


def _tuning_stages(plan: Plan, configs: _Configs, method: Method) -> None:
    spec = plan.spec
    row = spec.rows[method.row]
    col = spec.columns[spec.tune.column]
    for i, params in enumerate(method.trials):
        trial = f'{method.name} #{i} {params}'
        pre = _pretrain(plan, configs, row, spec.tune.seed,
                        spec.tune.images or _budget(spec, row), 'tune',
                        params, trial)
        ev = _evaluate(plan, configs, row, col, spec.tune.seed, pre, 'tune',
                       trial, plan.recipe_winners.get(col.name))
        plan.tuning[(method.name, i)] = ev.hash


def _recipe_stages(plan: Plan, configs: _Configs, grid: Method) -> None:
    spec = plan.spec
    row, col = spec.rows[grid.row], spec.columns[grid.name]
    for i, params in enumerate(grid.trials):
        ev = _evaluate(plan, configs, row, col, spec.tune.seed, None, 'tune',
                       f'recipe #{i} {params}', params)
        plan.recipe_tuning[(grid.name, i)] = ev.hash


def grid_winner(results: Results, hashes: List[Optional[str]],
                column: str, trials: List[dict]) -> Optional[dict]:
    """The best trial on ``column`` (the first of equal scores); None until
    every trial has finished."""
    scores = [results.metric(h, column) for h in hashes]
    return None if None in scores else trials[scores.index(max(scores))]


def set_winners(results: Results) -> None:
    """Each grid's winner in ``results.plan`` (None while a trial of it has
    no result): the recipe grids', keyed by column, and the methods'."""
    plan, tune = results.plan, results.spec.tune
    for col, grid in tune.recipes.items():
        plan.recipe_winners[col] = grid_winner(
            results, [plan.recipe_tuning.get((col, i))
                      for i in range(len(grid.trials))], col, grid.trials)
    for name, method in tune.methods.items():
        plan.winners[name] = grid_winner(
            results, [plan.tuning.get((name, i))
                      for i in range(len(method.trials))], tune.column,
            method.trials)


def _tuning(plan: Plan, configs: _Configs) -> None:
    """Recipe grids, their winners, then (once the tuning column's recipe
    has its winner; the other columns' grids need not have finished, as
    the method trials are scored on that column alone) the methods' grids
    and winners."""
    tune = plan.spec.tune
    for grid in tune.recipes.values():
        _recipe_stages(plan, configs, grid)
    set_winners(Results(plan))
    if tune.column in tune.recipes and \
            plan.recipe_winners[tune.column] is None:
        return
    for method in tune.methods.values():
        _tuning_stages(plan, configs, method)
    set_winners(Results(plan))


def tuning_state(plan: Plan, row: str) -> Optional[str]:
    """None when ``row`` can run its final stages, else why not."""
    spec = plan.spec
    waiting = [c for c in spec.rows[row].columns
               if c in plan.recipe_winners and plan.recipe_winners[c] is None]
    if waiting:
        return (f'row {row!r} takes the recipe of column(s) {waiting} from '
                'their recipe grid, which has not finished: run '
                '`tools/reproduce.py SPEC --tune` first')
    method = spec.method_of(row)
    if method is None or plan.winners.get(method.name) is not None:
        return None
    return (f'row {row!r} takes the winner of tuning method '
            f'{method.name!r}, whose trials have not all finished: run '
            '`tools/reproduce.py SPEC --tune` first')


def _row_stages(plan, configs, row: Row, seed: int) -> None:
    spec = plan.spec
    pre = None
    if tuning_state(plan, row.name):
        return
    if row.init == 'pretrained':
        method = spec.method_of(row.name)
        pre = _pretrain(plan, configs, row, seed, _budget(spec, row), 'main',
                        plan.winners[method.name] if method else None)
    for c in row.columns:
        ev = _evaluate(plan, configs, row, spec.columns[c], seed, pre, 'main',
                       recipe=plan.recipe_winners.get(c))
        plan.cells[(row.name, c, seed)] = ev.hash


def build_plan(spec: Spec) -> Plan:
    """Every stage of the spec, in run order: seed by seed (so a partial run
    has whole seeds), rows in spec order, the budget curve last."""
    plan, configs = Plan(spec), _Configs()
    if spec.tune:
        _tuning(plan, configs)
    seeds = list(dict.fromkeys(
        list(spec.seeds) + [s for r in spec.rows.values() for s in r.seeds]))
    for seed in seeds:
        for row in spec.rows.values():
            if seed in row.seeds:
                _row_stages(plan, configs, row, seed)
    curve = spec.curve
    for seed in (seeds if curve else []):
        for name in curve.rows:
            row = spec.rows[name]
            for images in curve.images:
                if seed not in row.seeds or tuning_state(plan, name):
                    continue
                method = spec.method_of(name)
                pre = _pretrain(plan, configs, row, seed, images, 'curve',
                                plan.winners[method.name] if method else None)
                ev = _evaluate(plan, configs, row, spec.columns[curve.column],
                               seed, pre, 'curve',
                               recipe=plan.recipe_winners.get(curve.column))
                plan.curve[(name, images, seed)] = ev.hash
    return plan


def _check_names(what: str, given: Optional[Iterable], known) -> None:
    unknown = sorted(set(given or ()) - set(known))
    if unknown:
        raise SpecError(f'{what}: unknown {unknown}; known: {list(known)}')


def select(plan: Plan, rows: Optional[List[str]] = None,
           columns: Optional[List[str]] = None,
           seeds: Optional[List[int]] = None,
           curve: bool = True, tune: bool = False) -> List[Stage]:
    """The evaluations matching the filters and the pre-trainings they need,
    in plan order. ``tune``: the tuning stages (of the methods whose row is
    in ``rows``, default all) instead of the final ones; final rows still
    waiting for their tuning are refused."""
    spec = plan.spec
    _check_names('--only', rows, spec.rows)
    _check_names('--columns', columns, spec.columns)
    if tune:
        return _select_tuning(plan, rows)
    for name in rows or spec.rows:
        reason = tuning_state(plan, name)
        if reason:
            raise SpecError(reason)
    wanted = set()
    for st in plan.stages.values():
        if st.kind == 'pretrain' or st.group == 'tune' or (
                st.group == 'curve' and not curve):
            continue
        names = {r for (r, c, s), h in plan.cells.items() if h == st.hash}
        names |= {r for (r, i, s), h in plan.curve.items() if h == st.hash}
        if rows and not names & set(rows):
            continue
        if (columns and st.column not in columns) or (
                seeds is not None and st.seed not in seeds):
            continue
        wanted.add(st.hash)
        if st.depends:
            wanted.add(st.depends)
    return [st for h, st in plan.stages.items() if h in wanted]


def _select_tuning(plan: Plan, rows: Optional[List[str]]) -> List[Stage]:
    spec = plan.spec
    if not spec.tune:
        raise SpecError(f'{spec.path} has no tune section')
    grids = [(plan.recipe_tuning, c, g) for c, g in spec.tune.recipes.items()]
    grids += [(plan.tuning, n, m) for n, m in spec.tune.methods.items()]
    grids = [g for g in grids if not rows or g[2].row in rows]
    if not grids:
        raise SpecError(f'--only {",".join(rows)}: no tuning grid runs on '
                        'these rows; tuned rows: ' + ', '.join(
                            g.row for g in list(spec.tune.recipes.values()) +
                            list(spec.tune.methods.values())))
    wanted = set()
    for hashes, name, grid in grids:
        for i in range(len(grid.trials)):
            ev = plan.stages.get(hashes.get((name, i)))
            if ev is not None:  # method grids wait for the tuning recipe
                wanted.add(ev.hash)
                if ev.depends:
                    wanted.add(ev.depends)
    return [st for h, st in plan.stages.items() if h in wanted]
