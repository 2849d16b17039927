"""docs/reproduction.md's tables re-render, number for number, from the
cells committed under docs/reproduction_cells/."""
import glob
import json
import os
import os.path as osp

from semaim_mm.reproduce.cells import BLOCK, CELLS_ROOT, render_doc

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DOC = osp.join(ROOT, 'docs', 'reproduction.md')


def test_committed_report_rerenders_from_committed_cells():
    with open(DOC) as f:
        text = f.read()
    assert len(BLOCK.findall(text)) >= 5
    rendered, changed = render_doc(DOC)
    assert changed == [] and rendered == text


def test_a_changed_number_is_caught(tmp_path):
    with open(DOC) as f:
        text = f.read()
    edited = tmp_path / 'doc.md'
    edited.write_text(text.replace('73.34 ± 0.78', '73.43 ± 0.78', 1))
    _, changed = render_doc(str(edited))
    assert changed


def test_every_committed_cell_names_its_commit():
    cells = glob.glob(osp.join(CELLS_ROOT, '*', '*.json'))
    assert cells
    for path in cells:
        with open(path) as f:
            cell = json.load(f)
        assert cell['git'] and cell['hash'] == osp.basename(path)[:-5]


def test_tuning_block_renders_grids_and_winners_from_cells(tmp_path):
    """A sitting's tuning cells, placed by the values in their labels (not
    the index: a grid widened at its low end renumbers its trials), give
    each grid's scores and winner; an unfinished grid has none."""
    from semaim_mm.reproduce.cells import render_block
    from semaim_mm.reproduce.spec import load_spec
    spec = 'configs/reproduce/fashion_mnist_short.py'
    tune = load_spec(spec).tune
    trials = dict(recipe=tune.recipes['ft_10pct'].trials,
                  semaim=tune.methods['semaim'].trials,
                  mae=tune.methods['mae'].trials)
    lr = 'optim_wrapper.optimizer.lr'
    scores = {('recipe', 0): 60.0, ('recipe', 1): 62.5, ('recipe', 2): 61.0}
    scores.update({('semaim', i): 50.0 + i for i in range(6)})
    scores.update({('mae', i): 55.0 - i for i in range(5)})  # one missing
    for n, ((grid, i), score) in enumerate(scores.items()):
        h, dep = f'{n:016x}', f'{n + 100:016x}'
        row = dict(recipe='scratch', semaim='semantic', mae='mae')[grid]
        cell = dict(hash=h, kind='train', group='tune', row=row,
                    column='ft_10pct', seed=0, images=0, git='abc',
                    label=f'tune ft_10pct {grid} '
                    f'#{len(trials[grid]) - 1 - i} {trials[grid][i]}',
                    depends=None if grid == 'recipe' else dep,
                    metrics={'accuracy/top1': score})
        (tmp_path / f'{h}.json').write_text(json.dumps(cell))
        if grid != 'recipe':  # the trial's pre-training, its loss curve
            pre = dict(cell, hash=dep, kind='pretrain', column=None,
                       depends=None,
                       label=f'tune pretrain {grid} #{i} {trials[grid][i]}',
                       metrics={}, record=dict(
                           loss_curve=[[10, 1.0], [20, 0.5 + i / 100]]))
            (tmp_path / f'{dep}.json').write_text(json.dumps(pre))
    text = render_block(dict(dir=str(tmp_path), images=64 * 280, spec=spec,
                             tuning=True))
    assert f'winner: `{lr}` = 0.002' in text
    assert '**55.00** (winner)' in text
    assert 'mae (rows mae, mae_flops, mae_lr0) (6 trials; unfinished' in text
    assert text.count('(winner)') == 2
    assert '| 5 | 0.006 | (0.6, 1.0) | 0.5500 | **55.00** (winner) |' in text


def test_export_cells_copies_clean_results_and_refuses_dirty(
        tmp_path, monkeypatch):
    from semaim_mm.reproduce import SpecError, build_plan, load_spec
    from semaim_mm.reproduce import cells as cells_mod
    from semaim_mm.reproduce.store import Results

    from .conftest import write_result
    monkeypatch.setattr(cells_mod, 'CELLS_ROOT', str(tmp_path / 'cells'))
    plan = build_plan(load_spec(
        osp.join(ROOT, 'configs', 'reproduce', 'fashion_mnist_short.py'),
        str(tmp_path / 'wd')))
    first, second = list(plan.recipe_tuning.values())[:2]
    write_result(plan, first, git='abc123')
    write_result(plan, second, git='abc123+dirty')
    try:
        cells_mod.export_cells(Results(plan), 'sitting')
    except SpecError as e:
        assert 'uncommitted' in str(e)
    else:
        raise AssertionError('a dirty stage was exported')
    assert not (tmp_path / 'cells').exists()
    write_result(plan, second, git='abc123')
    n, out = cells_mod.export_cells(Results(plan), 'sitting')
    assert n == 2 and sorted(os.listdir(out)) == sorted(
        f'{h}.json' for h in (first, second))
    assert cells_mod.load_cells(out)[first]['git'] == 'abc123'


def test_loss_at_reads_the_last_window_before_the_fraction():
    from semaim_mm.reproduce.grids import loss_at
    curve = [[10, 4.0], [20, 3.0], [30, 2.0], [40, 1.0]]
    assert loss_at(curve, 0.25) == 4.0 and loss_at(curve, 0.5) == 3.0
    assert loss_at(curve, 0.74) == 3.0 and loss_at(curve, 1.0) == 1.0
    assert loss_at([[10, 4.0], [20, 3.0]], 0.1) == 4.0


def test_losses_block_indexes_the_winning_trial_as_seed_0(tmp_path):
    """The committed tuning cells hold the winners' pre-trainings: the loss
    table finds them as the rows' seed-0 runs; the figure is drawn only
    when asked for."""
    from semaim_mm.reproduce.cells import render_block
    tuning = tmp_path / 'cells'
    tuning.mkdir()
    for f in glob.glob(osp.join(CELLS_ROOT, 'headline_2026-12-07', '*.json')):
        with open(f) as fh:
            if json.load(fh)['group'] == 'tune':
                (tuning / osp.basename(f)).write_text(open(f).read())
    block = {'dir': str(tuning), 'images': 50048,
             'spec': 'configs/reproduce/fashion_mnist_short.py',
             'losses': {'rows': ['semantic', 'raster'],
                        'figure': 'loss.png'}}
    text = render_block(block)
    assert '| semantic (SemAIM) | 1 | 0.5090 |' in text
    assert '| raster | 0 | — |' in text
    assert not (tmp_path / 'loss.png').exists()
    render_block(block, str(tmp_path))
    assert (tmp_path / 'loss.png').stat().st_size > 0


def _two_host_curve_cells(tmp_path) -> dict:
    """A budget-curve block over cells whose seeds 0-1 ran on one kind of
    host and seed 2 on another (pre-training CPU s 100 x (seed + 1))."""
    n = iter(range(1000))
    hosts = {0: 'AMD EPYC', 1: 'AMD EPYC', 2: 'Intel Xeon'}

    def cell(**kw):
        h = f'{next(n):016x}'
        (tmp_path / f'{h}.json').write_text(json.dumps(dict(
            hash=h, git='abc', machine=dict(cpu=hosts[kw['seed']],
                                            cpu_count=2), **kw)))
    for seed in hosts:
        cell(kind='knn', group='main', row='scratch', column='knn',
             seed=seed, images=0, metrics={'knn/top1_k20': 60.0 + seed})
        for row in ('semantic', 'mae'):
            for images, group in ((12544, 'curve'), (50048, 'main')):
                cell(kind='pretrain', group=group, row=row, column=None,
                     seed=seed, images=images, metrics={},
                     record=dict(train_cpu_s=100.0 * (1 + seed)))
                cell(kind='knn', group=group, row=row, column='knn',
                     seed=seed, images=images,
                     metrics={'knn/top1_k20': 70.0 + seed})
    return {'dir': str(tmp_path), 'images': 50048,
            'spec': 'configs/reproduce/fashion_mnist_short.py',
            'curve': {'rows': ['semantic', 'mae'], 'flat': 'scratch',
                      'column': 'knn'}}


def test_curve_block_keeps_each_hosts_seconds_apart(tmp_path):
    """A budget point whose pre-trainings ran on two kinds of host gives one
    CPU-seconds mean per kind, as the tables' cost columns do."""
    from semaim_mm.reproduce.cells import render_block
    text = render_block(_two_host_curve_cells(tmp_path))
    assert '| 12544 | 71.00 ± 1.00 | 71.00 ± 1.00 | +0.00 ' in text
    assert '150 (AMD EPYC x2, n = 2); 300 (Intel Xeon x2, n = 1)' in text


def test_budget_figure_leaves_out_seconds_of_mixed_hosts(tmp_path):
    """The report figure's CPU axis has no point for a budget whose
    pre-trainings ran on several kinds of host (no mean over them)."""
    from semaim_mm.reproduce.cells import cell_results
    from semaim_mm.reproduce.figures import _curve_points
    (tmp_path / 'mixed').mkdir()
    results = cell_results(_two_host_curve_cells(tmp_path / 'mixed'))
    assert [(i, cpu) for i, _, _, cpu, _ in
            _curve_points(results, 'semantic')] == [(12544, None),
                                                   (50048, None)]
    (tmp_path / 'amd').mkdir()
    block = _two_host_curve_cells(tmp_path / 'amd')
    for f in (tmp_path / 'amd').iterdir():
        if json.loads(f.read_text())['seed'] == 2:  # the Intel seed
            f.unlink()
    points = _curve_points(cell_results(block), 'semantic')
    assert [(i, cpu) for i, _, _, cpu, _ in points] == [(12544, 150.0),
                                                        (50048, 150.0)]
