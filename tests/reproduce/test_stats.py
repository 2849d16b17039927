"""Statistics over seeds equal hand-computed values, on the numbers and on
a report built from fixture result JSONs."""
import json
import math
import os
import os.path as osp

import pytest

from semaim_mm.reproduce import build_plan, load_spec
from semaim_mm.reproduce.costs import host_means, spent_md
from semaim_mm.reproduce.report import render
from semaim_mm.reproduce.stats import (correct_family, fmt_paired, holm,
                                       min_detectable_effect,
                                       paired_difference, pooled_std,
                                       sentence, summarize, t_quantile)
from semaim_mm.reproduce.store import Results

SEMANTIC = {0: 80.0, 1: 81.0, 2: 82.5}
RASTER = {0: 78.0, 1: 80.0, 2: 80.5}
# hand-computed: mean 81.1667, sample var (1.3611 + 0.0278 + 1.7778) / 2
SEMANTIC_STD = math.sqrt(3.1666667 / 2)
# raster - semantic = (-2, -1, -2): mean -1.6667, sd 0.57735, se 0.33333,
# t(0.975, 2) = 4.303 -> half width 1.4343
DIFF_LOW, DIFF_HIGH = -1.6666667 - 1.4343, -1.6666667 + 1.4343


def test_summary_and_paired_interval():
    s = summarize(SEMANTIC.values())
    assert s.n == 3 and s.mean == pytest.approx(81.1666667)
    assert s.std == pytest.approx(SEMANTIC_STD, rel=1e-6)
    p = paired_difference(RASTER, SEMANTIC)
    assert p.n == 3 and p.mean == pytest.approx(-1.6666667)
    assert p.low == pytest.approx(DIFF_LOW, abs=2e-4)
    assert p.high == pytest.approx(DIFF_HIGH, abs=2e-4)
    assert p.resolved
    # only common seeds pair; one pair gives no interval
    one = paired_difference({0: 79.0}, SEMANTIC)
    assert (one.n, one.mean, one.low, one.resolved) == (1, -1.0, None, False)
    assert paired_difference({5: 1.0}, SEMANTIC) is None
    assert summarize([3.0]).std is None and summarize([]) is None


def test_t_quantile_is_scipys():
    assert t_quantile(2) == pytest.approx(4.302653, abs=1e-6)
    assert t_quantile(4) == pytest.approx(2.776445, abs=1e-6)
    assert t_quantile(4, 0.8) == pytest.approx(0.940965, abs=1e-6)
    with pytest.raises(ValueError):
        t_quantile(0)


# Four comparisons of five seeds (a fixture table), by hand:
#   a: d = (1, 2, 3, 2, 2)   mean 2.0, sd sqrt(0.5) = 0.70711, t = 6.3246,
#      p = 0.003198
#   b: d = (1, 0, 2, 1, 1)   mean 1.0, sd 0.70711, t = 3.1623, p = 0.03411
#   c: d = (0, 1, -1, 0.5, 0) mean 0.1, sd 0.74162, t = 0.3015, p = 0.7781
#   d: d = (3, 2, 4, 3, 3)   mean 3.0, sd 0.70711, t = 9.4868, p = 0.000689
# Holm, m = 4: d 0.000689 <= 0.05/4 reject; a 0.003198 <= 0.05/3 reject;
#   b 0.03411 > 0.05/2 stop -> b and c kept. (Unadjusted, b would be
#   resolved: its interval [0.122, 1.878] excludes 0.)
REF5 = {s: 70.0 + s for s in range(5)}
FAMILY = {'a': (1, 2, 3, 2, 2), 'b': (1, 0, 2, 1, 1),
          'c': (0, 1, -1, 0.5, 0), 'd': (3, 2, 4, 3, 3)}
P_HAND = dict(a=0.003198, b=0.03411, c=0.7781, d=0.000689)


def _family():
    return {k: paired_difference({s: REF5[s] + d[s] for s in range(5)},
                                 REF5) for k, d in FAMILY.items()}


def test_holm_decisions_equal_hand_computed():
    raw = _family()
    for k, p in P_HAND.items():
        assert raw[k].p == pytest.approx(p, rel=1e-3)
    assert raw['b'].low > 0  # resolved without the correction
    fam = correct_family(raw)
    assert {k: fam[k].resolved for k in fam} == dict(a=True, b=False,
                                                     c=False, d=True)
    assert holm([0.01, None, 0.04, 0.03]) == [True, None, False, False]
    assert holm([0.01, 0.02, 0.03]) == [True, True, True]  # 0.03 <= 0.05/1


def test_minimum_detectable_effect_equals_hand_computed():
    # pooled sd over the family: sqrt((0.5 + 0.5 + 0.55 + 0.5) * 4 / 16)
    pooled = math.sqrt((0.5 + 0.5 + 0.55 + 0.5) / 4)
    fam = correct_family(_family())
    assert pooled_std(list(fam.values())) == pytest.approx(pooled)
    # (t(0.975, 4) + t(0.8, 4)) * sd / sqrt(5) = (2.776445 + 0.940965) ...
    mde = (2.776445 + 0.940965) * pooled / math.sqrt(5)
    assert fam['c'].mde == pytest.approx(mde, rel=1e-5)
    # the figure: sd 0.9 over 3 seeds -> about 2.8 points
    assert min_detectable_effect(0.9, 3) == pytest.approx(
        (4.302653 + 1.060660) * 0.9 / math.sqrt(3), rel=1e-5)
    words = sentence('FT', 'semantic', fam)
    assert f'c +0.10: not resolved at n = 5 (detectable: {mde:.1f} ' \
        'points)' in words
    assert 'b +1.00: not resolved at n = 5' in words


def test_sentences_say_what_is_resolved():
    unresolved = paired_difference({0: 80.5, 1: 80.0, 2: 83.0}, SEMANTIC)
    # raster: t = 5, p = 0.0377 -- resolved alone, not beside a second
    # comparison (Holm: 0.0377 > 0.05 / 2)
    alone = sentence('FT 10%', 'semantic', correct_family(
        {'raster': paired_difference(RASTER, SEMANTIC)}))
    assert 'resolved (Holm-corrected within the table, alpha 0.05): raster ' \
        '-1.67' in alone
    text = sentence('FT 10%', 'semantic', correct_family({
        'raster': paired_difference(RASTER, SEMANTIC),
        'stochastic': unresolved}))
    assert 'raster -1.67: not resolved at n = 3 (detectable: ' in text
    assert 'stochastic +0.00: not resolved at n = 3 (detectable: ' in text
    one = sentence('k-NN', 'semantic',
                   {'mae': paired_difference({0: 70.0}, {0: 71.5})})
    assert 'one seed' in one and 'mae -1.50' in one
    assert fmt_paired(unresolved).endswith(']')  # no '*': not resolved


SPEC = """
_base_ = '{root}/configs/reproduce/demo.py'
SEMAIM = 'configs/pretrain/semaim_vit-tiny-p4_fashion-mnist.py'
FINETUNE = ('configs/benchmarks/finetune/'
            'vit-tiny-p4_1xb64-coslr-10e_fashion-mnist.py')
seeds = [0, 1, 2]
rows = dict(_delete_=True,
            semantic=dict(pretrain=SEMAIM, seed_keys=['model.seed']),
            raster=dict(pretrain=SEMAIM, seed_keys=['model.seed'],
                        overrides={{'model.order': 'raster'}}),
            scratch=dict(init='random'))
columns = dict(_delete_=True, ft=dict(
    title='FT', config=FINETUNE, epochs=1, label_fraction=0.1,
    test_overrides={{'val_dataloader.dataset.split': 'test'}}))
default_columns = ['ft']
tables = [dict(title='fixture', rows=['semantic', 'raster', 'scratch'],
               columns=['ft'], cost=True)]
budget_curve = None
tune = None
"""


def _write(plan, h, **data):
    d = plan.stage_dir(h)
    os.makedirs(d, exist_ok=True)
    base = dict(hash=h, command='fixture', git='abc', images=64,
                machine=dict(cpu_count=2, load_start=[1, 1, 1]),
                wall_s=10.0, cpu_s=12.0,
                record=dict(images_seen=64, train_wall_s=10.0,
                            train_cpu_s=20.0, train_flops=2.5e12,
                            loss_curve=[[1, 1.2], [2, 0.9]]), metrics={})
    with open(osp.join(d, 'result.json'), 'w') as f:
        json.dump(dict(base, **data), f)


def test_report_from_fixture_jsons(tmp_path, repo_root):
    spec_file = tmp_path / 'spec.py'
    spec_file.write_text(SPEC.format(root=repo_root))
    plan = build_plan(load_spec(str(spec_file), str(tmp_path / 'wd')))
    for (row, col, seed), h in plan.cells.items():
        value = dict(semantic=SEMANTIC, raster=RASTER).get(row, {}).get(seed)
        if value is not None:
            _write(plan, h, kind='train', row=row, column=col, seed=seed,
                   metrics={'accuracy/top1': value})
    for (row, images, seed), h in plan.pretrains.items():
        _write(plan, h, kind='pretrain', row=row, column=None, seed=seed)
    results = Results(plan)
    assert results.cell('semantic', 'ft') == SEMANTIC
    text = render(plan, str(tmp_path))
    assert f'81.17 ± {SEMANTIC_STD:.2f}' in text
    assert f'-1.67 [{DIFF_LOW:+.2f}, {DIFF_HIGH:+.2f}] *' in text
    # pre-training images, wall, CPU s, TFLOPs
    assert '| 64 | 10 | 20 | 2.5 |' in text
    assert 'ft: scratch (seeds 0, 1, 2)' in text  # missing cells listed
    assert '| FT | 6 | 10 | 12 |' in text  # mean stage cost per column
    assert osp.getsize(tmp_path / 'fig_rows.png') > 1000
    assert osp.getsize(tmp_path / 'fig_loss.png') > 1000


def test_costs_of_different_hosts_are_not_averaged():
    runs = [dict(machine=dict(cpu='AMD EPYC', cpu_count=2), s=700.0),
            dict(machine=dict(cpu='Intel Xeon', cpu_count=2), s=300.0),
            dict(machine=dict(cpu='Intel Xeon', cpu_count=2), s=340.0),
            dict(machine=dict(cpu='Intel(R) Xeon(R) Processor',
                              cpu_count=16), s=40.0)]
    assert host_means(runs[1:3], lambda r: r['s']) == '320'
    assert host_means(runs, lambda r: r['s']) == (
        '700 (AMD EPYC x2, n = 1); 40 (Intel Xeon x16, n = 1); '
        '320 (Intel Xeon x2, n = 2)')


def test_spent_sums_hours_per_group_and_host():
    amd = dict(cpu='AMD EPYC', cpu_count=2)
    runs = [dict(group='tune', machine=amd, wall_s=3600.0, cpu_s=5400.0),
            dict(group='main', machine=amd, wall_s=1800.0, cpu_s=2700.0),
            dict(group='main', machine=amd, wall_s=1800.0, cpu_s=3600.0),
            dict(group='main', machine=dict(cpu='Intel Xeon', cpu_count=2),
                 wall_s=720.0, cpu_s=1080.0)]
    assert spent_md(runs).splitlines()[2:] == [
        '| final rows | AMD EPYC x2 | 2 | 1.00 | 1.75 |',
        '| final rows | Intel Xeon x2 | 1 | 0.20 | 0.30 |',
        '| tuning grids | AMD EPYC x2 | 1 | 1.00 | 1.50 |']
