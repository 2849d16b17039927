"""The validation protocol: the 'val' hold-out is class-balanced, fixed and
disjoint from every training set of the reproduction specs; a tuning stage
cannot read the test split; the winners of the grids feed the final rows
and the report shows the grids."""
import copy
import glob
import json
import os.path as osp
import re
from typing import List, Sequence

import numpy as np
import pytest

from semaim_mm.datasets.fashion_mnist import (FashionMNISTDataset,
                                              split_indices, val_indices)
from semaim_mm.reproduce import SpecError, build_plan, load_spec
from semaim_mm.reproduce.configs import set_key
from semaim_mm.reproduce.plan import select
from semaim_mm.reproduce.report import render
from semaim_mm.reproduce.store import Results


ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SPECS = sorted(glob.glob(osp.join(ROOT, 'configs', 'reproduce', '*.py')))


@pytest.fixture(scope='module')
def train_labels():
    return np.asarray(FashionMNISTDataset(split='train', pipeline=[],
                                          lazy_init=False).get_gt_labels())


def test_val_split_is_balanced_fixed_and_disjoint(train_labels):
    val = split_indices('val', train_labels)
    rest = split_indices('train_minus_val', train_labels)
    assert len(val) == 10000 and len(rest) == 50000
    assert np.bincount(train_labels[val]).tolist() == [1000] * 10
    assert not set(val.tolist()) & set(rest.tolist())
    assert (val == val_indices(train_labels)).all()  # deterministic
    ds = FashionMNISTDataset(split='val', pipeline=[])
    assert len(ds) == 10000
    # the dataset's images are the train file's at those indices
    full = FashionMNISTDataset(split='train', pipeline=[], to_rgb=False)
    assert (ds.get_data_info(7)['img'][..., 0] ==
            full.get_data_info(int(val[7]))['img']).all()


def _fashion_datasets(ds):
    """Every FashionMNISTDataset config inside ``ds`` (wrappers opened)."""
    if not isinstance(ds, dict):
        return []
    if ds.get('type') == 'FashionMNISTDataset':
        return [ds]
    return [d for key in ('dataset', 'datasets')
            for sub in (ds.get(key) if isinstance(ds.get(key), list)
                        else [ds.get(key)])
            for d in _fashion_datasets(sub)]


@pytest.mark.parametrize('spec_file', SPECS, ids=osp.basename)
def test_val_split_disjoint_from_every_training_set(spec_file, tmp_path,
                                                    finish_tuning):
    """Every training set is train_minus_val, or the mosaic train canvases
    (pasted from its items: tests/seg/test_mosaic_provenance.py)."""
    plan = build_plan(load_spec(spec_file, str(tmp_path)))
    if plan.spec.tune:
        plan = finish_tuning(plan, lambda method, i: 50.0 + i)
        assert all(plan.winners.values())
    seen = 0
    for st in plan.stages.values():
        train = st.cfg.knn.bank_dataset if st.kind == 'knn' else \
            st.cfg.train_dataloader.dataset
        fashion = _fashion_datasets(train)
        for ds in fashion:
            assert ds.split == 'train_minus_val', st.label
            seen += 1
        if not fashion:
            paths = '/'.join([train.get('data_root', ''),
                              train.get('ann_file', ''),
                              *(train.get('data_prefix') or {}).values()])
            words = set(re.split(r'[/_.]', paths))
            assert 'mosaic' in words and words & {'train', 'training'} \
                and not words & {'val', 'validation'}, (st.label, paths)
            seen += 1
    assert seen


def _spec(tmp_path, repo_root, tune_overrides: str,
          recipes: str = '') -> str:
    path = tmp_path / 'spec.py'
    path.write_text(
        f"_base_ = '{repo_root}/configs/reproduce/demo_quick.py'\n"
        "rows = dict(_delete_=True, semantic={{_base_.rows.semantic}},\n"
        "            scratch={{_base_.rows.scratch}})\n"
        "default_columns = ['ft_10pct']\n"
        f"columns = dict(ft_10pct=dict(tune_overrides={tune_overrides}))\n"
        "tables = [dict(title='t', rows=['semantic', 'scratch'],\n"
        "               columns=['ft_10pct'], reference='scratch')]\n"
        "tune = dict(_delete_=True, column='ft_10pct', seed=0,\n"
        "            methods=dict(semaim=dict(\n"
        "    row='semantic', grid={'optim_wrapper.optimizer.lr': [1e-3,\n"
        "                          2e-3], 'warmup': [0.1]}))" +
        (f', recipes={recipes}' if recipes else '') + ')\n')
    return str(path)


@pytest.mark.parametrize('tune_overrides, message', [
    ("{'val_dataloader.dataset.split': 'test'}", 'evaluate on the test'),
    ("{'val_dataloader.dataset.data_root': 'data/t10k'}",
     'evaluate on the test'),
])
def test_tuning_cannot_read_the_test_split(tmp_path, repo_root, capsys,
                                           tune_overrides, message):
    spec = _spec(tmp_path, repo_root, tune_overrides)
    with pytest.raises(SpecError, match=message):
        build_plan(load_spec(spec, str(tmp_path / 'wd')))
    from semaim_mm.reproduce.cli import main
    assert main([spec, '--tune', '--work-dir', str(tmp_path / 'wd')]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and message in err
    assert err.count('\n') == 1


def test_tuning_refuses_the_final_cells_data():
    from semaim_mm.reproduce.configs import check_tuning
    ds = dict(type='CocoDataset', ann_file='annotations/instances_val.json')
    check_tuning(dict(ds, indices=[0, 1]), dict(ds, indices=[2, 3]), 'det')
    for tune in (dict(ds, indices=[1, 2]), ds):
        with pytest.raises(SpecError, match="final cells' data"):
            check_tuning(tune, dict(ds, indices=[2, 3]), 'det')


def test_winners_feed_the_final_rows(tmp_path, repo_root, finish_tuning):
    spec = load_spec(_spec(tmp_path, repo_root, "{}"), str(tmp_path / 'wd'))
    plan = build_plan(spec)
    assert ('semantic', 'ft_10pct', 0) not in plan.cells  # waits for tuning
    tune_ft = plan.stages[plan.tuning[('semaim', 0)]]
    assert tune_ft.cfg.val_dataloader.dataset.split == 'val'
    plan = finish_tuning(plan, lambda method, i: [61.0, 64.5][i])
    assert plan.winners['semaim'] == {'optim_wrapper.optimizer.lr': 2e-3,
                                      'warmup': 0.1}
    final = plan.stages[plan.cells[('semantic', 'ft_10pct', 0)]]
    assert final.cfg.val_dataloader.dataset.split == 'test'
    pre = plan.stages[final.depends]
    assert pre.hash == plan.stages[plan.tuning[('semaim', 1)]].depends
    assert pre.cfg.optim_wrapper.optimizer.lr == 2e-3
    warm, cos = pre.cfg.param_scheduler
    assert warm.end == cos.begin == 1  # 10% of a 2-iteration run, >= 1
    text = render(plan, str(tmp_path))
    assert '## Tuning on validation' in text
    assert '| 0 | 0.001 | 0.1 | — | 61.00 |' in text  # no loss curve here
    assert '| 1 | 0.002 | 0.1 | — | **64.50** (winner) |' in text


def test_tune_refuses_columns_and_seeds(tmp_path, repo_root, capsys):
    from semaim_mm.reproduce.cli import main
    spec = _spec(tmp_path, repo_root, '{}')
    assert main([spec, '--tune', '--seeds', '1']) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: --tune') and err.count('\n') == 1


def test_recipe_grid_runs_first_and_feeds_every_row(tmp_path, repo_root,
                                                    finish_tuning):
    """A fine-tuning recipe tuned on random init: until it has a winner the
    method grids and the final rows wait; its winner (lr, epochs) is the
    column's recipe for the method trials and for every final cell."""
    recipes = ("dict(ft_10pct=dict(row='scratch', grid={"
               "'optim_wrapper.optimizer.lr': [1e-3, 4e-3], "
               "'length': [1, 2]}))")
    spec = load_spec(_spec(tmp_path, repo_root, '{}', recipes),
                     str(tmp_path / 'wd'))
    plan = build_plan(spec)
    assert len(plan.recipe_tuning) == 4 and plan.tuning == {}
    assert plan.cells == {}  # every row waits
    trial = plan.stages[plan.recipe_tuning[('ft_10pct', 3)]]
    assert trial.cfg.val_dataloader.dataset.split == 'val'
    assert trial.cfg.train_cfg.max_epochs == 2
    assert trial.cfg.model.backbone.init_cfg is None  # random init
    plan = finish_tuning(plan, lambda grid, i: 60.0 + (grid == 'ft_10pct'
                                                       and i == 2))
    assert plan.recipe_winners['ft_10pct'] == {
        'optim_wrapper.optimizer.lr': 4e-3, 'length': 1}
    method_ft = plan.stages[plan.tuning[('semaim', 0)]]
    assert method_ft.cfg.optim_wrapper.optimizer.lr == 4e-3
    for row in ('semantic', 'scratch'):
        final = plan.stages[plan.cells[(row, 'ft_10pct', 0)]]
        assert final.cfg.optim_wrapper.optimizer.lr == 4e-3
        assert final.cfg.train_cfg.max_epochs == 1
        assert final.cfg.val_dataloader.dataset.split == 'test'
    assert '### FT 10% recipe (on row scratch) (4 trials; winner: ' in \
        render(plan, str(tmp_path))


def test_method_trials_wait_only_for_the_tuning_columns_recipe(
        tmp_path, repo_root):
    """The transfer spec scores its method trials by UperNet: once the seg
    recipe has a winner they run, while the final rows (seg and det
    columns) still wait for Mask R-CNN's grid."""
    from .conftest import write_result
    spec = load_spec(osp.join(repo_root, 'configs', 'reproduce',
                              'fashion_mosaic_transfer.py'), str(tmp_path))
    plan = build_plan(spec)
    assert spec.tune.column == 'seg' and plan.tuning == {}
    seg = spec.columns['seg']
    for (grid, i), h in plan.recipe_tuning.items():
        if grid == 'seg':
            write_result(plan, h, metrics={seg.metrics[seg.primary]: 40 + i})
    plan = build_plan(spec)
    assert plan.recipe_winners['det'] is None
    assert plan.recipe_winners['seg'] == spec.tune.recipes['seg'].trials[-1]
    trials = sum(len(m.trials) for m in spec.tune.methods.values())
    assert len(plan.tuning) == trials
    for h in plan.tuning.values():
        assert plan.stages[h].column == 'seg'
    assert plan.cells == {}


def test_report_flags_a_winner_on_the_grid_edge():
    from semaim_mm.reproduce.grids import grid_edges
    from semaim_mm.reproduce.spec import Method
    grid = Method('m', 'row', (), (('lr', (1.0, 2.0, 4.0)),
                                   ('crop', ((0.2, 1.0), (0.6, 1.0)))))
    assert grid_edges(grid, {'lr': 4.0, 'crop': (0.2, 1.0)}) == ['lr']
    assert grid_edges(grid, {'lr': 1.0, 'crop': (0.6, 1.0)}) == ['lr']
    assert grid_edges(grid, {'lr': 2.0, 'crop': (0.2, 1.0)}) == []
    assert grid_edges(grid, None) == []


def test_validation_column_reads_val_and_compares_its_lengths(
        tmp_path, repo_root, finish_tuning):
    """The short spec's fine-tuning length check: both columns read the
    validation split, and the table gives 2x minus 1x paired over seeds."""
    from semaim_mm.reproduce.report import table_diffs, table_md

    from .conftest import write_result
    spec = load_spec(osp.join(repo_root, 'configs', 'reproduce',
                              'fashion_mnist_short.py'), str(tmp_path))
    plan = finish_tuning(build_plan(spec), lambda name, i: 50.0 + i)
    one = {0: 70.0, 1: 71.0, 2: 72.0}
    two = {0: 70.5, 1: 71.7, 2: 72.3}  # differences 0.5, 0.7, 0.3
    four = {0: 71.0, 1: 71.9, 2: 72.6}  # to 2x: 0.5, 0.2, 0.3
    for col, scores in (('ft_10pct_val', one), ('ft_10pct_2x', two),
                        ('ft_10pct_4x', four)):
        for seed, score in scores.items():
            h = plan.cells[('scratch', col, seed)]
            assert plan.stages[h].cfg.val_dataloader.dataset.split == 'val'
            write_result(plan, h, metrics={'accuracy/top1': score})
    # SemAIM skips the 2x rung: its 4x is compared with its 1x
    for col, scores in (('ft_10pct_val', two), ('ft_10pct_4x', four)):
        for seed, score in scores.items():
            write_result(plan, plan.cells[('semantic', col, seed)],
                         metrics={'accuracy/top1': score + 1.0})
    from semaim_mm.reproduce.report import difference_sentences
    from semaim_mm.reproduce.store import Results
    table = next(t for t in spec.tables if t.compare_columns)
    results = Results(plan)
    diffs = table_diffs(results, table)
    text = table_md(results, table, diffs)
    assert 'semantic (SemAIM): FT 10%, 4x epochs (validation) − FT 10% ' \
        '(validation) = +0.33 ' in text
    assert 'semantic (SemAIM): FT 10%, 2x' not in text
    assert '- FT 10%, 2x epochs (validation): no row but random init has ' \
        'this column.' in difference_sentences(results, table, diffs)
    # each length against the one before: 2x - 1x mean 0.5, sd 0.2,
    # t(0.975, 2) = 4.303: 0.5 +- 0.497; 4x - 2x mean 0.333, sd 0.153:
    # 0.333 +- 0.380
    assert '2x epochs (validation) − FT 10% (validation) = +0.50 ' \
        '[+0.00, +1.00]' in text
    assert '4x epochs (validation) − FT 10%, 2x epochs (validation) = ' \
        '+0.33 [-0.05, +0.71]' in text


@pytest.mark.parametrize('column, message', [
    ("dict(reports='validation', test_overrides={'a': 1})",
     'drop its test_overrides'),
    ("dict(reports='val')", "reports must be 'test' or 'validation'"),
])
def test_validation_column_declarations_are_checked(tmp_path, repo_root,
                                                    column, message):
    path = tmp_path / 'spec.py'
    path.write_text(
        f"_base_ = '{repo_root}/configs/reproduce/demo_quick.py'\n"
        f"columns = dict(ft_10pct={column})\n")
    with pytest.raises(SpecError, match=message):
        load_spec(str(path), str(tmp_path))


def _lr0_rows(spec) -> List[str]:
    return [name for name, row in spec.rows.items()
            if row.overrides.get('optim_wrapper.optimizer.lr') == 0.0]


def _without(cfg, keys: Sequence[str]) -> dict:
    """``cfg`` as a plain dict, the dotted ``keys`` set to None."""
    d = copy.deepcopy(cfg.to_dict())
    for key in keys:
        set_key(d, key, None)
    return d


@pytest.mark.parametrize('spec_file', ['fashion_mnist_short.py',
                                       'fashion_mnist.py',
                                       'fashion_mnist_gpu.py',
                                       'fashion_mosaic_transfer.py'])
def test_lr0_rows_train_at_lr_0_and_evaluate_like_random_init(
        tmp_path, repo_root, finish_tuning, spec_file):
    """The lr-0 rows as the plan resolves them: the pre-training optimizer's
    lr and every scheduler step stay at 0 (a cosine's absolute eta_min
    would otherwise lift lr 0 toward its floor), and each evaluation's
    config is the random-init row's but for the checkpoint it loads."""
    import torch
    from mmengine.optim import OptimWrapper
    from mmengine.registry import PARAM_SCHEDULERS
    spec = load_spec(osp.join(repo_root, 'configs', 'reproduce', spec_file),
                     str(tmp_path))
    plan = finish_tuning(build_plan(spec), lambda name, i: 50.0 + i)
    rows = _lr0_rows(spec)
    assert rows
    for row in rows:
        seed = (spec.rows[row].seeds or spec.seeds)[0]
        images = spec.rows[row].images or spec.pretrain_images
        cfg = plan.stages[plan.pretrains[(row, images, seed)]].cfg
        wrapper = OptimWrapper(torch.optim.AdamW(
            [torch.nn.Parameter(torch.zeros(1))],
            lr=cfg.optim_wrapper.optimizer.lr))
        schedulers = [PARAM_SCHEDULERS.build(dict(s, optimizer=wrapper))
                      for s in cfg.param_scheduler]
        lrs = []
        for _ in range(cfg.train_cfg.max_iters):
            lrs.append(wrapper.param_groups[0]['lr'])
            for s in schedulers:
                s.step()
        assert max(lrs) == 0.0, (row, max(lrs))
        for col in spec.rows[row].columns:
            random = next(n for n, r in spec.rows.items()
                          if r.init == 'random' and col in r.columns)
            lr0, ref = (plan.stages[plan.cells[(r, col, seed)]].cfg
                        for r in (row, random))
            init = spec.columns[col].init_key
            assert _without(lr0, [init, 'work_dir']) == \
                _without(ref, [init, 'work_dir']), (row, col)


def test_import_cells_goes_on_with_a_sitting_elsewhere(
        tmp_path, repo_root, finish_tuning, capsys, monkeypatch):
    """Cells exported from one work dir and imported into an empty one are
    finished stages again: the grids' winners, hence the final rows'
    hashes, come back, and only what no cell holds is left to run."""
    from semaim_mm.reproduce import cells
    from semaim_mm.reproduce.cli import main
    from .conftest import write_result
    monkeypatch.setattr(cells, 'CELLS_ROOT', str(tmp_path / 'cells'))
    recipes = ("dict(ft_10pct=dict(row='scratch', grid={"
               "'optim_wrapper.optimizer.lr': [1e-3, 4e-3]}))")
    spec = _spec(tmp_path, repo_root, '{}', recipes)
    here = finish_tuning(build_plan(load_spec(spec, str(tmp_path / 'a'))),
                         lambda grid, i: 60.0 + i)
    final = here.cells[('semantic', 'ft_10pct', 0)]
    write_result(here, final, metrics={'accuracy/top1': 70.0})
    n, out = cells.export_cells(Results(here), 'sitting')
    (tmp_path / 'cells' / 'sitting' / 'f00.json').write_text(json.dumps(
        dict(hash='f00', row='semantic', kind='pretrain')))  # not a stage
    there = str(tmp_path / 'b')
    assert main([spec, '--work-dir', there, '--import-cells', 'sitting',
                 '--seeds', '0']) == 2
    assert 'only imports' in capsys.readouterr().err
    assert main([spec, '--work-dir', there, '--import-cells',
                 'sitting']) == 0
    assert f'{n} finished stage(s) imported' in capsys.readouterr().out
    plan = build_plan(load_spec(spec, there))
    assert plan.winners == here.winners and plan.cells == here.cells
    results = Results(plan)
    assert set(results.by_hash) == set(Results(here).by_hash)
    assert all('also' not in d for d in results.by_hash.values())
    todo = {st.label for st in results.to_run(select(plan))}
    assert 'ft_10pct semantic seed 0' not in todo
    assert 'ft_10pct scratch seed 0' in todo
    assert main([spec, '--work-dir', there, '--import-cells',
                 'sitting']) == 0  # nothing new the second time
    assert '0 finished stage(s) imported' in capsys.readouterr().out
