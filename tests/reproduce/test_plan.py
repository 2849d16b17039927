"""The full matrix resolves into comparable stages: training only on
train_minus_val, one validation after the last epoch, no save_best, equal
pre-training images per row, class-balanced label subsets per seed; tuning
stages read the validation split, final cells the test split."""
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config

from semaim_mm.datasets import balanced_indices
from semaim_mm.reproduce import SpecError, build_plan, load_spec, select
from semaim_mm.reproduce.configs import scale_schedule

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FULL = osp.join(ROOT, 'configs', 'reproduce', 'fashion_mnist.py')


@pytest.fixture(scope='module')
def plan(tmp_path_factory):
    """The full spec with its tuning grids finished (recipe trial 1 and
    method trial 4 win)."""
    from .conftest import write_result
    plan = build_plan(load_spec(FULL, str(tmp_path_factory.mktemp('wd'))))
    for (col, i), h in plan.recipe_tuning.items():
        score = 50.0 + (i == 1)
        write_result(plan, h, metrics={
            k: score for k in ('accuracy/top1', 'coco/bbox_mAP',
                               'coco/segm_mAP', 'mIoU')})
    plan = build_plan(plan.spec)
    for (method, i), h in plan.tuning.items():
        write_result(plan, h, metrics={'accuracy/top1': 50.0 + (i == 4)})
        write_result(plan, plan.stages[h].depends)
    return build_plan(plan.spec)


def _inner(ds):
    while ds.get('type') == 'ClassBalancedSubset':
        ds = ds['dataset']
    return ds


def test_full_matrix_rows_and_stages(plan):
    spec = plan.spec
    assert {'raster', 'stochastic', 'similarity', 'semantic',
            'semantic_official', 'semantic_multicenter', 'dec1', 'dec3',
            'mae', 'scratch', 'pixels'} <= set(spec.rows)
    assert list(spec.columns)[:5] == ['ft_1pct', 'ft_10pct', 'ft_full',
                                      'knn', 'linear']
    assert spec.lead == 'ft_10pct' and len(spec.seeds) >= 3
    main = [plan.stages[h] for (r, i, s), h in plan.pretrains.items()
            if i == (spec.rows[r].images or spec.pretrain_images)]
    # 9 classification, 2 lr-0 and 2 mosaic pre-training rows, 3 seeds
    assert len(main) == (9 + 2 + 2) * 3
    assert len(plan.pretrains) - len(main) == 2 * 3 * 3  # budget curve
    # 9 trials per method (a pre-training and an evaluation each) after
    # the recipe grids (3 lr for FT 1/10/100% and linear; 3 lr x 2 lengths
    # for detection and segmentation); the winner's pre-training is seed 0's
    tune = [s for s in plan.stages.values() if s.group == 'tune']
    assert len(tune) == 2 * 9 * 2 + 4 * 3 + 2 * 6
    assert plan.pretrains[('semantic', spec.pretrain_images, 0)] in {
        s.hash for s in tune}
    orders = {o if isinstance(o, str) else o['type']
              for o in (s.cfg.model.order for s in main
                        if s.cfg.model.type == 'SemAIM')}
    assert {'raster', 'stochastic', 'similarity', 'semantic',
            'semantic_official', 'semantic_multicenter'} <= orders
    # SemAIM's default decoder depth is the encoder's
    depths = {s.cfg.model.neck.get('depth',
                                   s.cfg.model.backbone.arch.num_layers)
              for s in main
              if s.cfg.model.type == 'SemAIM' and s.images == spec.pretrain_images}
    assert depths == {1, 3, 6}
    # transfer rows evaluate detection and segmentation only
    assert {c for (r, c, _) in plan.cells if r.startswith('mosaic')} == {
        'det', 'seg'}


def test_equal_pretraining_images(plan):
    spec = plan.spec
    main = [plan.stages[h] for (r, i, _), h in plan.pretrains.items()
            if i == spec.pretrain_images and not r.startswith('mosaic')]
    assert {s.images for s in main} == {spec.pretrain_images}
    for s in main:
        assert s.cfg.train_cfg.max_iters * s.cfg.train_dataloader.batch_size \
            == spec.pretrain_images
        assert s.checkpoint.endswith(f'iter_{s.cfg.train_cfg.max_iters}.pth')


def test_training_never_sees_the_test_split(plan):
    """Training reads train_minus_val; tuning evaluates on 'val' (or the
    mosaics' tuning half), final cells on 'test' (or the reported half)."""
    for st in plan.stages.values():
        cfg = st.cfg
        held = 'val' if st.group == 'tune' else 'test'
        if st.kind == 'knn':
            assert _inner(cfg.knn.bank_dataset)['split'] == 'train_minus_val'
            assert cfg.knn.query_dataset.split == held
            continue
        train = cfg.train_dataloader.dataset
        if 'split' in _inner(train):
            assert _inner(train)['split'] == 'train_minus_val'
        else:  # mosaic data
            assert 'val' not in str(_inner(train))
        ckpt = cfg.default_hooks.checkpoint
        assert 'save_best' not in ckpt and ckpt.max_keep_ckpts == 1
        if st.kind == 'train':
            unit = 'max_epochs' if 'max_epochs' in cfg.train_cfg else \
                'max_iters'
            assert cfg.train_cfg.val_interval == cfg.train_cfg[unit]
            assert ckpt.interval == cfg.train_cfg[unit]
            val = cfg.val_dataloader.dataset
            if val.get('split'):
                assert val.split == held
            else:  # mosaic canvases: the tuning or the reported half
                assert val.indices == list(
                    range(0, 100) if st.group == 'tune' else range(100, 200))
        assert cfg.randomness.seed == st.seed


def test_label_subsets_and_inits(plan):
    for (row, col, seed), h in plan.cells.items():
        st = plan.stages[h]
        frac = plan.spec.columns[col].label_fraction
        ds = st.cfg.knn.bank_dataset if st.kind == 'knn' else \
            st.cfg.train_dataloader.dataset
        if frac:
            assert ds.type == 'ClassBalancedSubset' and ds.seed == seed
            assert ds.fraction == frac
        init = st.cfg.model.backbone.get('init_cfg')
        if plan.spec.rows[row].init == 'pretrained':
            assert init.checkpoint == plan.stages[st.depends].checkpoint
        elif plan.spec.rows[row].init == 'random':
            assert init is None
        else:
            assert st.cfg.model.backbone.type == 'RawPixels'


def test_hash_chain_and_selection(plan):
    sem0 = plan.stages[plan.cells[('semantic', 'ft_10pct', 0)]]
    dec1 = plan.stages[plan.cells[('dec1', 'ft_10pct', 0)]]
    assert sem0.depends != dec1.depends and sem0.hash != dec1.hash
    picked = select(plan, ['semantic', 'scratch'], ['ft_10pct'], [0],
                    curve=False)
    # semantic's seed-0 pre-training is its method's winning trial (#4)
    assert [s.label for s in picked] == [
        "tune pretrain semaim #4 {'optim_wrapper.optimizer.lr': 0.003, "
        "'warmup': 0.1}", 'ft_10pct semantic seed 0',
        'ft_10pct scratch seed 0']
    with pytest.raises(SpecError, match='unknown'):
        select(plan, ['no_such_row'])


def test_schedule_scaled_to_the_budget(repo_root):
    ft = Config.fromfile(osp.join(
        repo_root, 'configs', 'benchmarks', 'finetune',
        'vit-tiny-p4_1xb64-coslr-10e_fashion-mnist.py'))
    assert scale_schedule(ft, 5) == 10
    warm, cos = ft.param_scheduler
    assert (warm.end, cos.begin, cos.end, cos.T_max) == (0.5, 0.5, 5, 4.5)
    pre = Config.fromfile(osp.join(repo_root, 'configs', 'pretrain',
                                   'semaim_vit-tiny-p4_fashion-mnist.py'))
    scale_schedule(pre, 600)
    warm, cos = pre.param_scheduler
    assert (warm.end, cos.begin, cos.end, cos.T_max) == (60, 60, 600, 540)
    assert pre.train_cfg.max_iters == 600


def test_balanced_subsets_deterministic():
    labels = np.repeat(np.arange(4), [50, 30, 40, 60])
    a = balanced_indices(labels, 10, seed=0)
    assert np.bincount(labels[a]).tolist() == [10] * 4
    assert (a == balanced_indices(labels, 10, seed=0)).all()
    assert not (a == balanced_indices(labels, 10, seed=1)).all()
    with pytest.raises(ValueError, match='class 1 has 30'):
        balanced_indices(labels, 31, seed=0)


def test_fashion_mnist_subset_from_train_split():
    from mmpretrain.registry import DATASETS
    cfg = dict(type='ClassBalancedSubset', fraction=0.01, seed=3,
               dataset=dict(type='FashionMNISTDataset',
                            split='train_minus_val', pipeline=[]))
    a, b = DATASETS.build(cfg), DATASETS.build(cfg)
    assert len(a) == 500
    assert np.bincount(a.get_gt_labels()).tolist() == [50] * 10
    assert (a.subset_indices == b.subset_indices).all()
    assert a.split == 'train_minus_val'


@pytest.mark.parametrize('column, extra, message', [
    ("overrides={'train_dataloader.dataset.split': 'test'}", '',
     "trains on split 'test'"),
    ("overrides={'train_dataloader.dataset.split': 'train'}", '',
     "only 'train_minus_val' may be used"),
    ('test_overrides=None', '', 'needs test_overrides'),
    ('', 'pretrain = dict(images=100)', 'not a multiple of its batch size 64'),
    ('', "rows = dict(semantic=dict(colour='red'))", 'unknown key'),
    ('epochs=None', '', 'exactly one of epochs'),
])
def test_spec_mistakes_are_named(tmp_path, repo_root, column, extra,
                                 message):
    spec = tmp_path / 'bad.py'
    spec.write_text(
        f"_base_ = '{repo_root}/configs/reproduce/demo.py'\n"
        "SEMAIM = 'configs/pretrain/semaim_vit-tiny-p4_fashion-mnist.py'\n"
        "FT = 'configs/benchmarks/finetune/vit-tiny-p4_1xb64-coslr-"
        "10e_fashion-mnist.py'\n"
        "columns = dict(ft=dict(dict(title='FT', config=FT, epochs=1, "
        "test_overrides={'val_dataloader.dataset.split': 'test'}), "
        f"{column}))\n"
        "default_columns = ['ft']\n"
        "rows = dict(_delete_=True, semantic=dict(pretrain=SEMAIM))\n"
        "tables = []\n" + extra + '\n')
    with pytest.raises(SpecError, match=message):
        build_plan(load_spec(str(spec), str(tmp_path / 'wd')))


def test_stage_hash_ignores_which_modules_register_types():
    from semaim_mm.reproduce.plan import stage_hash
    cfg = Config(dict(model=dict(type='X'), custom_imports=dict(
        imports=['semaim_mm'], allow_failed_imports=False)))
    other = Config(dict(model=dict(type='X'), custom_imports=dict(
        imports=['semaim_mm.engine'], allow_failed_imports=False)))
    assert stage_hash('train', cfg, 0, None) == \
        stage_hash('train', other, 0, None)
    other.model.type = 'Y'
    assert stage_hash('train', cfg, 0, None) != \
        stage_hash('train', other, 0, None)
