"""The experiment-matrix spec: rows (a pre-training or an initialisation) x
columns (evaluations) x seeds, read from an mmengine config file
(``configs/reproduce/*.py``; see ``configs/reproduce/fashion_mnist.py``).

Top-level keys: ``work_dir``, ``title``, ``seeds``, ``reference`` (the row
paired differences are taken against), ``default_columns`` (lead first),
``pretrain`` (``images``: the budget in images, ``overrides``),
``train_overrides`` (every training stage), ``columns``, ``rows``,
``budget_curve``, ``tables``, ``notes``, ``torch_threads`` (the worker's
intra-op threads; default torch's), ``tune`` (the validation grids, see
:class:`Tune`). UPPERCASE and ``_private`` names are the file's own
constants and are ignored.

Every column's evaluation config reads the validation split; its
``test_overrides`` point the final cells at the reported split (the test
split, or the reported part of the mosaic canvases) and ``tune_overrides``
(optional) the tuning stages at the tuning part.
"""
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from mmengine.config import Config

from ..model_index import DATA_ROOT as ROOT
from ..model_index import INSTALLED

INITS = ('pretrained', 'random', 'pixels')
KINDS = ('train', 'knn')
DEFAULT_METRICS = {
    'train': {'top1': 'accuracy/top1'},
    'knn': {'k20': 'knn/top1_k20', 'k10': 'knn/top1_k10',
            'k30': 'knn/top1_k30'},
}
TOP_KEYS = {'work_dir', 'title', 'seeds', 'reference', 'default_columns',
            'pretrain', 'train_overrides', 'columns', 'rows', 'budget_curve',
            'tables', 'notes', 'torch_threads', 'tune'}
COLUMN_KEYS = {'title', 'kind', 'config', 'metrics', 'scale', 'overrides',
               'label_fraction', 'epochs', 'iters', 'init_key', 'init_cfg',
               'test_overrides', 'tune_overrides', 'reports'}
TUNE_KEYS = {'column', 'seed', 'methods', 'images', 'recipes'}
METHOD_KEYS = {'row', 'apply_to', 'grid'}
# Grid axes handled by the harness, not config keys: the warm-up's share of
# the run (pre-training grids; see configs.set_warmup) and the evaluation's
# length in its column's unit (recipe grids).
WARMUP = 'warmup'
LENGTH = 'length'
ROW_KEYS = {'title', 'pretrain', 'init', 'overrides', 'eval_overrides',
            'columns', 'seeds', 'images', 'seed_keys'}


class SpecError(ValueError):
    """A mistake in a matrix spec file."""


@dataclass(frozen=True)
class Column:
    """One evaluation: a config, its overrides and the logged metrics."""
    name: str
    title: str
    kind: str
    config: str
    metrics: Dict[str, str]
    scale: float = 1.0
    overrides: dict = field(default_factory=dict)
    label_fraction: Optional[float] = None
    epochs: Optional[int] = None
    iters: Optional[int] = None
    init_key: str = 'model.backbone.init_cfg'
    init_cfg: dict = field(default_factory=lambda: dict(
        type='Pretrained', prefix='backbone.'))
    test_overrides: dict = field(default_factory=dict)
    tune_overrides: dict = field(default_factory=dict)
    # 'test': final cells read the reported split; 'validation': a check
    # made on the validation split (e.g. whether a run length suffices)
    reports: str = 'test'

    @property
    def primary(self) -> str:
        return next(iter(self.metrics))


@dataclass(frozen=True)
class Row:
    """A pre-training config + overrides, or an initialisation."""
    name: str
    title: str
    init: str
    pretrain: Optional[str]
    overrides: dict
    eval_overrides: Dict[str, dict]
    columns: Tuple[str, ...]
    seeds: Tuple[int, ...]
    images: Optional[int]
    seed_keys: Tuple[str, ...]


@dataclass(frozen=True)
class Table:
    title: str
    rows: Tuple[Tuple[str, str], ...]  # (row name, label)
    columns: Tuple[str, ...]  # 'column' or 'column:metric'
    reference: str
    cost: bool = False
    note: str = ''
    # each later column against the first, row by row, paired over seeds
    # (e.g. a run length against twice that length)
    compare_columns: bool = False


@dataclass(frozen=True)
class Curve:
    """Extra pre-training budgets, evaluated on one column."""
    rows: Tuple[str, ...]
    flat_rows: Tuple[str, ...]
    images: Tuple[int, ...]
    column: str


@dataclass(frozen=True)
class Method:
    """One method's grid: ``row`` runs the trials, and the winner's values
    feed ``row`` and the ``apply_to`` rows."""
    name: str
    row: str
    apply_to: Tuple[str, ...]
    axes: Tuple[Tuple[str, Tuple], ...]  # (config key or 'warmup', values)

    @property
    def trials(self) -> List[dict]:
        """The grid's points, first axis slowest."""
        out = [{}]
        for key, values in self.axes:
            out = [dict(t, **{key: v}) for t in out for v in values]
        return out


@dataclass(frozen=True)
class Tune:
    """Validation grids, one seed, the test split never read. ``recipes``
    (column -> grid, run first): an evaluation recipe tuned on one
    initialisation row (``Method.row``), scored on that column's tuning
    split; the winner is that column's recipe in every later stage.
    ``methods``: every method the same number of trials, each pre-trained
    at ``images`` (default: its row's budget) and scored on ``column``'s
    tuning split."""
    column: str
    seed: int
    methods: Dict[str, Method]
    images: Optional[int] = None
    recipes: Dict[str, Method] = field(default_factory=dict)


@dataclass
class Spec:
    path: str
    title: str
    work_dir: str
    seeds: Tuple[int, ...]
    reference: str
    lead: str
    columns: Dict[str, Column]
    rows: Dict[str, Row]
    pretrain_images: int
    pretrain_overrides: dict
    train_overrides: dict
    curve: Optional[Curve]
    tables: List[Table]
    notes: List[str]
    torch_threads: Optional[int] = None
    tune: Optional[Tune] = None

    def method_of(self, row: str) -> Optional[Method]:
        """The tuned method whose winner feeds ``row``."""
        for m in (self.tune.methods.values() if self.tune else ()):
            if row == m.row or row in m.apply_to:
                return m
        return None


def _check_keys(what: str, d: dict, allowed: set) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise SpecError(f'{what}: unknown key(s) {unknown}; allowed: '
                        f'{sorted(allowed)}')


def _need_file(what: str, path: str) -> str:
    full = path if osp.isabs(path) else osp.join(ROOT, path)
    if not osp.isfile(full):
        raise SpecError(f'{what}: config {path!r} does not exist (paths are '
                        'relative to the repository root)')
    return full


def _column(name: str, d: dict) -> Column:
    _check_keys(f'column {name!r}', d, COLUMN_KEYS)
    kind = d.get('kind', 'train')
    if kind not in KINDS:
        raise SpecError(f'column {name!r}: kind must be one of {KINDS}')
    if 'config' not in d:
        raise SpecError(f'column {name!r} needs a config')
    if kind == 'train' and (d.get('epochs') is None) == (d.get('iters') is
                                                         None):
        raise SpecError(f'column {name!r}: give exactly one of epochs / '
                        'iters (the evaluation budget)')
    frac = d.get('label_fraction')
    if frac is not None and not 0 < frac <= 1:
        raise SpecError(f'column {name!r}: label_fraction must be in (0, 1]')
    reports = d.get('reports', 'test')
    if reports not in ('test', 'validation'):
        raise SpecError(f"column {name!r}: reports must be 'test' or "
                        "'validation'")
    if reports == 'test' and not d.get('test_overrides'):
        raise SpecError(f'column {name!r} needs test_overrides: the keys '
                        'that point its evaluation at the reported split '
                        "(its config evaluates on the validation split), or "
                        "reports='validation' for a check on that split")
    if reports == 'validation' and d.get('test_overrides'):
        raise SpecError(f"column {name!r}: reports='validation' reads no "
                        'test split; drop its test_overrides')
    extra = {k: d[k] for k in ('scale', 'label_fraction', 'epochs', 'iters',
                               'init_key', 'init_cfg', 'test_overrides',
                               'tune_overrides', 'reports') if k in d}
    return Column(name=name, title=d.get('title', name), kind=kind,
                  config=_need_file(f'column {name!r}', d['config']),
                  metrics=dict(d.get('metrics') or DEFAULT_METRICS[kind]),
                  overrides=dict(d.get('overrides') or {}), **extra)


def _row(name: str, d: dict, seeds, columns, default_columns) -> Row:
    _check_keys(f'row {name!r}', d, ROW_KEYS)
    init = d.get('init', 'pretrained' if d.get('pretrain') else None)
    if init not in INITS:
        raise SpecError(f'row {name!r}: give a pretrain config or init= one '
                        f'of {INITS[1:]}')
    if (init == 'pretrained') != bool(d.get('pretrain')):
        raise SpecError(f'row {name!r}: a pretrain config goes with '
                        "init='pretrained' only")
    cols = tuple(d.get('columns') or default_columns)
    missing = [c for c in cols if c not in columns]
    bad_eval = [c for c in d.get('eval_overrides') or {} if c not in cols]
    if missing or bad_eval:
        raise SpecError(f'row {name!r}: unknown column(s) '
                        f'{missing + bad_eval}; columns: {list(columns)}')
    pretrain = d.get('pretrain')
    return Row(name=name, title=d.get('title', name), init=init,
               pretrain=_need_file(f'row {name!r}', pretrain)
               if pretrain else None,
               overrides=dict(d.get('overrides') or {}),
               eval_overrides=dict(d.get('eval_overrides') or {}),
               columns=cols, seeds=tuple(d.get('seeds') or seeds),
               images=d.get('images'),
               seed_keys=tuple(d.get('seed_keys') or ()))


def _table(d: dict, rows, columns, reference: str) -> Table:
    _check_keys('table', d, {'title', 'rows', 'columns', 'cost', 'note',
                             'reference', 'compare_columns'})
    entries = d['rows']
    pairs = tuple(entries.items()) if isinstance(entries, dict) else tuple(
        (r, r) for r in entries)
    for r, _ in pairs:
        if r not in rows:
            raise SpecError(f"table {d['title']!r}: unknown row {r!r}")
    for c in d['columns']:
        col, _, metric = c.partition(':')
        if col not in columns or (metric and
                                  metric not in columns[col].metrics):
            raise SpecError(f"table {d['title']!r}: unknown column {c!r}")
    ref = d.get('reference', reference)
    if ref not in rows:
        raise SpecError(f"table {d['title']!r}: unknown reference {ref!r}")
    return Table(title=d['title'], rows=pairs, columns=tuple(d['columns']),
                 reference=ref, cost=bool(d.get('cost', False)),
                 note=d.get('note', ''),
                 compare_columns=bool(d.get('compare_columns', False)))


def _curve(d: Optional[dict], rows, columns, lead) -> Optional[Curve]:
    if not d or not d.get('images'):
        return None
    _check_keys('budget_curve', d, {'rows', 'flat_rows', 'images', 'column'})
    curve = Curve(rows=tuple(d.get('rows', ())),
                  flat_rows=tuple(d.get('flat_rows', ())),
                  images=tuple(int(i) for i in d['images']),
                  column=d.get('column', lead))
    for r in curve.rows + curve.flat_rows:
        if r not in rows or curve.column not in rows[r].columns:
            raise SpecError(f'budget_curve: row {r!r} is not in the spec or '
                            f'lacks column {curve.column!r}')
    if any(rows[r].init != 'pretrained' for r in curve.rows):
        raise SpecError('budget_curve.rows must be pre-training rows '
                        '(random-init rows go in flat_rows)')
    return curve


def _tune(d: Optional[dict], rows, columns) -> Optional[Tune]:
    if not d:
        return None
    _check_keys('tune', d, TUNE_KEYS)
    column = d.get('column')
    if column not in columns:
        raise SpecError(f'tune.column {column!r} is not a column')
    methods = {}
    for name, m in (d.get('methods') or {}).items():
        _check_keys(f'tune.methods.{name}', m, METHOD_KEYS)
        row = m.get('row')
        targets = (row, ) + tuple(m.get('apply_to') or ())
        bad = [r for r in targets if r not in rows or
               rows[r].init != 'pretrained']
        if bad:
            raise SpecError(f'tune.methods.{name}: {bad} are not '
                            'pre-training rows of the spec')
        grid = m.get('grid') or {}
        if not grid or any(not isinstance(v, (list, tuple)) or not v
                           for v in grid.values()):
            raise SpecError(f'tune.methods.{name}.grid: give each axis a '
                            'non-empty list of values')
        clash = sorted(set(grid) & set(rows[row].overrides))
        if clash:
            raise SpecError(f'tune.methods.{name}: grid keys {clash} are '
                            f'also overrides of row {row!r}')
        if column not in rows[row].columns:
            raise SpecError(f'tune.methods.{name}: row {row!r} lacks the '
                            f'tuning column {column!r}')
        methods[name] = Method(name, row, tuple(m.get('apply_to') or ()),
                               tuple((k, tuple(v)) for k, v in grid.items()))
    if not methods:
        raise SpecError('tune.methods is empty')
    sizes = {n: len(m.trials) for n, m in methods.items()}
    if len(set(sizes.values())) > 1:
        raise SpecError(f'tune: every method needs the same number of '
                        f'trials, got {sizes}')
    fed = [r for m in methods.values() for r in (m.row, ) + m.apply_to]
    if len(fed) != len(set(fed)):
        raise SpecError('tune: a row is fed by two methods')
    images = d.get('images')
    return Tune(column=column, seed=int(d.get('seed', 0)), methods=methods,
                images=int(images) if images else None,
                recipes={c: _recipe(c, r, rows, columns)
                         for c, r in (d.get('recipes') or {}).items()})


def _recipe(column: str, d: dict, rows, columns) -> Method:
    where = f'tune.recipes.{column}'
    _check_keys(where, d, {'row', 'grid'})
    row = d.get('row')
    if column not in columns or columns[column].kind != 'train':
        raise SpecError(f'{where}: {column!r} is not a training column')
    if row not in rows or rows[row].init == 'pretrained' or \
            column not in rows[row].columns:
        raise SpecError(f'{where}: row {row!r} must be an initialisation '
                        f'row (random init) with column {column!r}')
    grid = d.get('grid') or {}
    if not grid or any(not isinstance(v, (list, tuple)) or not v
                       for v in grid.values()):
        raise SpecError(f'{where}.grid: give each axis a non-empty list of '
                        'values')
    return Method(column, row, (), tuple((k, tuple(v))
                                         for k, v in grid.items()))


def load_spec(path: str, work_dir: Optional[str] = None) -> Spec:
    """Read and check a spec file; ``work_dir`` overrides its own."""
    if not osp.isfile(path):
        raise SpecError(f'spec file {path!r} does not exist')
    raw = Config.fromfile(path).to_dict()
    _check_keys(path, {k: v for k, v in raw.items()
                       if not (k.isupper() or k.startswith('_'))}, TOP_KEYS)
    for key in ('columns', 'rows', 'seeds'):
        if not raw.get(key):
            raise SpecError(f'{path}: {key!r} is missing or empty')
    columns = {n: _column(n, c) for n, c in raw['columns'].items()}
    default_columns = list(raw.get('default_columns') or columns)
    seeds = tuple(int(s) for s in raw['seeds'])
    rows = {n: _row(n, r, seeds, columns, default_columns)
            for n, r in raw['rows'].items()}
    reference = raw.get('reference', next(iter(rows)))
    if reference not in rows:
        raise SpecError(f'{path}: reference row {reference!r} is not a row')
    pre = dict(raw.get('pretrain') or {})
    _check_keys('pretrain', pre, {'images', 'overrides'})
    if any(r.init == 'pretrained' and not (r.images or pre.get('images'))
           for r in rows.values()):
        raise SpecError(f'{path}: pretrain.images (the budget) is missing')
    lead = default_columns[0]
    return Spec(
        path=path, title=raw.get('title', osp.basename(path)),
        work_dir=osp.abspath(work_dir or raw.get('work_dir',
                                                 'work_dirs/reproduce')),
        seeds=seeds, reference=reference, lead=lead, columns=columns,
        rows=rows, pretrain_images=int(pre.get('images') or 0),
        pretrain_overrides=dict(pre.get('overrides') or {}),
        train_overrides=dict(raw.get('train_overrides') or {}),
        curve=_curve(raw.get('budget_curve'), rows, columns, lead),
        tables=[_table(t, rows, columns, reference)
                for t in raw.get('tables') or []],
        notes=list(raw.get('notes') or []),
        torch_threads=raw.get('torch_threads'),
        tune=_tune(raw.get('tune'), rows, columns))
