"""The matrix's data types: a :class:`Stage` (one pre-training or
evaluation, keyed by its hash) and the :class:`Plan` that indexes them.
:mod:`.plan` builds plans, :mod:`.store` reads their results."""
import ast
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

from mmengine.config import Config

from .spec import Spec


@dataclass
class Stage:
    hash: str
    kind: str  # 'pretrain' | 'train' | 'knn'
    row: str
    column: Optional[str]
    seed: int
    images: int  # pre-training images behind the stage (0: none)
    group: str  # 'main' | 'curve' | 'tune'
    cfg: Config
    depends: Optional[str] = None
    checkpoint: Optional[str] = None  # pre-training stages: the output
    trial: Optional[str] = None  # tuning stages: 'method #i {params}'

    @property
    def label(self) -> str:
        if self.trial:
            what = 'pretrain' if self.kind == 'pretrain' else self.column
            return f'tune {what} {self.trial}'
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
    # (method, trial index) -> hash of the trial's tuning evaluation;
    # method -> the winning trial's values (None: trials unfinished); the
    # same keyed by column for the recipe grids
    tuning: Dict[Tuple[str, int], str] = field(default_factory=dict)
    winners: Dict[str, Optional[dict]] = field(default_factory=dict)
    recipe_tuning: Dict[Tuple[str, int], str] = field(default_factory=dict)
    recipe_winners: Dict[str, Optional[dict]] = field(default_factory=dict)

    def add(self, stage: Stage) -> Stage:
        return self.stages.setdefault(stage.hash, stage)

    def stage_dir(self, h: str) -> str:
        return osp.join(self.spec.work_dir, 'stages', h)


def parse_trial(label: str) -> Tuple[str, dict]:
    """``(grid name, trial values)`` of a tuning stage's :attr:`Stage.label`
    (``'tune <column> <grid> #<i> {...}'``; recipe grids are ``recipe``).
    The values, not the index, place a trial: a grid widened at its low end
    renumbers the trials that ran before."""
    m = re.match(r'tune \S+ (\S+) #\d+ (\{.*\})$', label)
    if m is None:
        raise ValueError(f'not a tuning stage label: {label!r}')
    return m.group(1), ast.literal_eval(m.group(2))
