"""Stages of a matrix: ``pretrain(row, seed, images)`` and
``evaluate(row, column, seed)``, each keyed by a hash of its full resolved
config (an evaluation's hash includes its pre-training's hash).

A stage that two rows share (the same resolved config) exists once: a
decoder-depth row equal to the default depth reuses the default row's runs.
"""
import copy
import hashlib
import json
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

from mmengine.config import Config

from .configs import (check_stage, merge, pixel_backbone, prepare_training,
                      set_key, wrap_subset)
from .spec import Column, Row, Spec, SpecError

# Bump when the harness changes what a stage computes (old results then
# stop matching and run again).
HARNESS_VERSION = 1


@dataclass
class Stage:
    hash: str
    kind: str  # 'pretrain' | 'train' | 'knn'
    row: str
    column: Optional[str]
    seed: int
    images: int  # pre-training images behind the stage (0: none)
    group: str  # 'main' | 'curve'
    cfg: Config
    depends: Optional[str] = None
    checkpoint: Optional[str] = None  # pre-training stages: the output

    @property
    def label(self) -> str:
        if self.kind == 'pretrain':
            return f'pretrain {self.row} seed {self.seed} ({self.images} ' \
                'images)'
        extra = f' @ {self.images} images' if self.group == 'curve' else ''
        return f'{self.column} {self.row} seed {self.seed}{extra}'


@dataclass
class Plan:
    spec: Spec
    stages: Dict[str, Stage] = field(default_factory=dict)
    # (row, column, seed) -> hash, and (row, images, seed) -> hash of the
    # budget-curve column / of the pre-training
    cells: Dict[Tuple[str, str, int], str] = field(default_factory=dict)
    curve: Dict[Tuple[str, int, int], str] = field(default_factory=dict)
    pretrains: Dict[Tuple[str, int, int], str] = field(default_factory=dict)

    def add(self, stage: Stage) -> Stage:
        return self.stages.setdefault(stage.hash, stage)

    def stage_dir(self, h: str) -> str:
        return osp.join(self.spec.work_dir, 'stages', h)


def stage_hash(kind: str, cfg: Config, seed: int,
               depends: Optional[str]) -> str:
    blob = json.dumps(dict(harness=HARNESS_VERSION, kind=kind, seed=seed,
                           depends=depends, config=cfg.to_dict()),
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
              images: int, group: str) -> Stage:
    spec = plan.spec
    cfg = configs.load(row.pretrain)
    for overrides in (spec.train_overrides, spec.pretrain_overrides,
                      row.overrides):
        merge(cfg, overrides)
    batch = int(cfg.train_dataloader.batch_size)
    if images % batch:
        raise SpecError(f'row {row.name!r}: the budget {images} images is '
                        f'not a multiple of its batch size {batch}')
    prepare_training(cfg, images // batch, validate=False)
    for key in ('randomness.seed', ) + row.seed_keys:
        set_key(cfg, key, seed)
    check_stage(cfg, 'pretrain')
    h = stage_hash('pretrain', cfg, seed, None)
    work = osp.join(plan.stage_dir(h), 'work')
    cfg.work_dir = work
    stage = Stage(h, 'pretrain', row.name, None, seed, images, group, cfg,
                  checkpoint=osp.join(work, f'iter_{images // batch}.pth'))
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
              seed: int, pre: Optional[Stage], group: str) -> Stage:
    spec = plan.spec
    cfg = configs.load(col.config)
    if col.kind == 'train':
        merge(cfg, spec.train_overrides)
    merge(cfg, col.overrides)
    merge(cfg, row.eval_overrides.get(col.name))
    labelled = 'knn.bank_dataset' if col.kind == 'knn' else \
        'train_dataloader.dataset'
    wrap_subset(cfg, labelled, col.label_fraction, seed)
    _init(cfg, row, col, pre)
    if col.kind == 'train':
        prepare_training(cfg, col.epochs or col.iters, validate=True)
    set_key(cfg, 'randomness.seed', seed)
    check_stage(cfg, col.kind)
    depends = pre.hash if pre else None
    h = stage_hash(col.kind, cfg, seed, depends)
    if pre is not None:
        set_key(cfg, f'{col.init_key}.checkpoint', pre.checkpoint)
    cfg.work_dir = osp.join(plan.stage_dir(h), 'work')
    return plan.add(Stage(h, col.kind, row.name, col.name, seed,
                          pre.images if pre else 0, group, cfg, depends))


def _row_stages(plan, configs, row: Row, seed: int) -> None:
    spec = plan.spec
    pre = None
    if row.init == 'pretrained':
        pre = _pretrain(plan, configs, row, seed,
                        row.images or spec.pretrain_images, 'main')
    for c in row.columns:
        ev = _evaluate(plan, configs, row, spec.columns[c], seed, pre, 'main')
        plan.cells[(row.name, c, seed)] = ev.hash


def build_plan(spec: Spec) -> Plan:
    """Every stage of the spec, in run order: seed by seed (so a partial run
    has whole seeds), rows in spec order, the budget curve last."""
    plan, configs = Plan(spec), _Configs()
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
                if seed not in row.seeds:
                    continue
                pre = _pretrain(plan, configs, row, seed, images, 'curve')
                ev = _evaluate(plan, configs, row, spec.columns[curve.column],
                               seed, pre, 'curve')
                plan.curve[(name, images, seed)] = ev.hash
    return plan


def _check_names(what: str, given: Optional[Iterable], known) -> None:
    unknown = sorted(set(given or ()) - set(known))
    if unknown:
        raise SpecError(f'{what}: unknown {unknown}; known: {list(known)}')


def select(plan: Plan, rows: Optional[List[str]] = None,
           columns: Optional[List[str]] = None,
           seeds: Optional[List[int]] = None,
           curve: bool = True) -> List[Stage]:
    """The evaluations matching the filters and the pre-trainings they need,
    in plan order."""
    spec = plan.spec
    _check_names('--only', rows, spec.rows)
    _check_names('--columns', columns, spec.columns)
    wanted = set()
    for st in plan.stages.values():
        if st.kind == 'pretrain' or (st.group == 'curve' and not curve):
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

