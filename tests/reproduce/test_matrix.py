"""End to end through tools/reproduce.py: a 2-cell micro matrix (one
SemAIM row and scratch, fine-tuning, tiny budgets) runs and writes a
report, a rerun skips both cells, a half-done stage starts again from
scratch; then tools/demo.py --quick (reusing those stages) writes
results.json in the documented schema."""
import importlib.util
import json
import os
import os.path as osp

import numpy as np
import pytest

from semaim_mm.reproduce import build_plan, load_spec, select

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
QUICK = osp.join(ROOT, 'configs', 'reproduce', 'demo_quick.py')
PIECE = ['--only', 'semantic,scratch', '--columns', 'ft_10pct']


def _tool(name: str):
    """tools/NAME.py as a module (this test package is also called
    ``reproduce``, so a plain import would find it instead)."""
    spec = importlib.util.spec_from_file_location(
        f'tool_{name}', osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def micro(tmp_path_factory):
    """Run the micro matrix once, with one stage left half-done before."""
    reproduce = _tool('reproduce')
    wd = str(tmp_path_factory.mktemp('matrix') / 'demo')
    plan = build_plan(load_spec(QUICK, wd))
    stages = select(plan, ['semantic', 'scratch'], ['ft_10pct'])
    half = osp.join(plan.stage_dir(stages[-1].hash), 'work')
    os.makedirs(half)
    open(osp.join(half, 'epoch_1.pth'), 'w').close()
    open(osp.join(plan.stage_dir(stages[-1].hash), 'result.json.tmp9'),
         'w').write('{"hash": ')
    rc = reproduce.main([QUICK, '--work-dir', wd] + PIECE)
    return dict(rc=rc, wd=wd, plan=plan, stages=stages, half=half)


def _result(plan, stage):
    with open(osp.join(plan.stage_dir(stage.hash), 'result.json')) as f:
        return json.load(f)


def test_micro_matrix_end_to_end(micro):
    assert micro['rc'] == 0
    plan, stages = micro['plan'], micro['stages']
    assert [s.kind for s in stages] == ['pretrain', 'train', 'train']
    pre, ft_sem, ft_scratch = (_result(plan, s) for s in stages)
    # equal-budget accounting: images counted by the recorder
    assert pre['record']['images_seen'] == pre["images"] == 128
    assert osp.isfile(pre['checkpoint'])
    # the loss curve (one window mean per iteration of this 2-step run) and
    # the analytic FLOPs of the tiny SemAIM
    curve = pre['record']['loss_curve']
    assert [i for i, _ in curve] == [1, 2] and all(v > 0 for _, v in curve)
    assert pre['record']['flops_per_image'] == 878339424
    assert pre['record']['train_flops'] == 128 * 878339424
    assert pre['host'] and pre['git_clean'] in (True, False)
    for res, stage in ((ft_sem, stages[1]), (ft_scratch, stages[2])):
        vals = res['record']['validations']
        # one validation, after the last epoch; that is the number
        assert len(vals) == 1 and vals[0]['epoch'] == res['record'][
            'max_epochs'] == stage.cfg.train_cfg.max_epochs
        assert res['metrics'] == vals[0]['metrics']
        assert 0 <= res['metrics']['accuracy/top1'] <= 100
        assert res['wall_s'] > 0 and res['cpu_s'] > 0
        assert 'save_best' not in stage.cfg.default_hooks.checkpoint
        assert stage.cfg.train_dataloader.dataset.dataset.split == \
            'train_minus_val'
        assert stage.cfg.val_dataloader.dataset.split == 'test'
    assert ft_sem['depends'] == pre['hash'] and ft_scratch['depends'] is None
    # the half-done stage restarted from an empty folder
    assert not osp.exists(osp.join(micro['half'], 'epoch_1.pth'))
    report = open(osp.join(micro['wd'], 'report.md')).read()
    top1 = ft_sem['metrics']['accuracy/top1']
    assert f'| SemAIM, semantic order | {top1:.2f} |' in report
    assert '## Missing cells' in report and 'knn: semantic' in report
    assert osp.getsize(osp.join(micro['wd'], 'fig_rows.png')) > 1000


def test_rerun_skips_finished_stages(micro, capsys):
    reproduce = _tool('reproduce')
    plan = micro['plan']
    files = [osp.join(plan.stage_dir(s.hash), 'result.json')
             for s in micro['stages']]
    before = [os.stat(f).st_mtime_ns for f in files]
    assert reproduce.main([QUICK, '--work-dir', micro['wd']] + PIECE) == 0
    assert '0 stage(s) to run, 3 already done' in capsys.readouterr().out
    assert [os.stat(f).st_mtime_ns for f in files] == before
    assert reproduce.main([QUICK, '--work-dir', micro['wd'], '--dry-run'] +
                          PIECE) == 0
    out = capsys.readouterr().out
    assert out.count('\ndone ') == 3 and '3 stages: 3 done, 0 to do' in out


def test_gone_checkpoint_reruns_its_pretraining(micro):
    """A finished pre-training whose checkpoint is gone runs again when an
    evaluation still to run needs it, and only then."""
    from semaim_mm.reproduce.store import Results, dry_run_lines
    plan, (pre, ft_sem, _) = micro['plan'], micro['stages']
    ckpt = pre.checkpoint
    result = osp.join(plan.stage_dir(ft_sem.hash), 'result.json')
    os.rename(ckpt, ckpt + '.away')
    try:
        assert Results(plan).to_run(micro['stages']) == []
        os.rename(result, result + '.away')
        try:
            results = Results(plan)
            assert results.to_run(micro['stages']) == [pre, ft_sem]
            lines = dry_run_lines(micro['stages'], results)
            assert [ln.split()[0] for ln in lines[1:4]] == [
                'redo', 'to', 'done']
        finally:
            os.rename(result + '.away', result)
    finally:
        os.rename(ckpt + '.away', ckpt)


def test_bad_spec_one_line(tmp_path, capsys):
    reproduce = _tool('reproduce')
    assert reproduce.main([str(tmp_path / 'nope.py')]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: spec file') and err.count('\n') == 1


@pytest.mark.slow  # the whole quick demo: about 75 s on the slow host
def test_demo_quick_results_schema(micro):
    demo = _tool('demo')
    out = demo.main(['--quick', '--work-dir', micro['wd']])
    with open(osp.join(micro['wd'], 'results.json')) as f:
        res = json.load(f)
    assert set(res) == {'grid', 'wall_min', 'rows'}
    assert res['grid'] == [7, 7] and res['wall_min'] > 0
    assert [r['name'] for r in res['rows']] == [
        'semantic', 'stochastic', 'mae', 'scratch', 'pixels']
    keys = {'name', 'ft_10pct', 'knn_k20', 'linear_gap', 'pretrain_images',
            'pretrain_cpu_s'}
    by = {r['name']: r for r in res['rows']}
    for r in res['rows']:
        assert set(r) == keys
        for k in ('knn_k20', 'linear_gap'):
            assert 0 <= r[k] <= 100
    for name in ('semantic', 'stochastic', 'mae'):
        assert by[name]["pretrain_images"] == 128
        assert by[name]['pretrain_cpu_s'] > 0 and by[name]['ft_10pct'] >= 0
    assert by['scratch']['pretrain_images'] is None
    assert by['pixels']['ft_10pct'] is None
    assert by['pixels']['pretrain_cpu_s'] is None
    report = open(out['report']).read()
    assert '## Verdict (computed from the table)' in report
    assert 'make reproduce' in report and 'one seed' in report.lower()
    for row in ('semantic', 'stochastic'):
        assert f'](fig2_{row}.png)' in report
        panels = np.load(osp.join(micro['wd'], f'fig2_{row}.png.npz'))
        assert panels['centers'].shape[:2] == (3, 5)
