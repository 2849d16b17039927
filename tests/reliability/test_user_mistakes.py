"""The mistakes of issue 27's probe: each is one ``error: ...`` line before
anything is built, or is now done right and said in the log. Tools run
in-process (``tools/*.py`` ``main`` under ``run_tool``) where the mistake is
caught before a Runner exists; real runs in a subprocess."""
import errno
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub

from semaim_mm.engine import CheckpointSaveError, SemAIMRunner
from semaim_mm.engine.resume_check import changed_settings
from semaim_mm.engine.runner import fit_converted_windows
from semaim_mm.engine.schedule import rescale

from ._real import CONFIG, PYTHON, ROOT, SMALL, env
from .toy import ToyData, make_runner

FINETUNE = osp.join(
    ROOT, 'configs/benchmarks/finetune/vit-tiny-p4_1xb64-coslr-10e_'
    'fashion-mnist.py')
TINY = SMALL + ['train_dataloader.batch_size=4',
                'default_hooks.checkpoint.interval=2']
_TOOLS = {}


def tool(name):
    if name not in _TOOLS:
        spec = importlib.util.spec_from_file_location(
            f'semaim_tool_{name}', osp.join(ROOT, 'tools', f'{name}.py'))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _TOOLS[name] = module
    return _TOOLS[name]


def error_of(capsys, monkeypatch, *argv, name='train'):
    """Run tools/NAME.py ARGV in-process; its one 'error: ...' line."""
    module = tool(name)
    monkeypatch.setattr(sys, 'argv', [f'tools/{name}.py', *map(str, argv)])
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        module.run_tool(module.main)
    err = capsys.readouterr().err
    assert stop.value.code == 1, err
    lines = [x for x in err.splitlines() if x.startswith('error: ')]
    assert len(lines) == 1 and 'Traceback' not in err, err
    return lines[0]


def train(work_dir, *extra, iters=2, opts=TINY):
    cmd = [PYTHON, 'tools/train.py', CONFIG, '--work-dir', str(work_dir),
           *extra, '--cfg-options', *opts, f'train_cfg.max_iters={iters}']
    return subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A 2-iteration run of the small config: its work dir."""
    wd = tmp_path_factory.mktemp('trained') / 'wd'
    res = train(wd)
    assert res.returncode == 0, res.stderr[-3000:]
    return wd


@pytest.fixture(autouse=True)
def _fresh_hub():
    yield
    MessageHub._instance_dict.clear()


# 1, 7: keys no config reads; the config file itself
@pytest.mark.parametrize('option,nearest,why', [
    ('max_iters=10', 'train_cfg.max_iters', 'variable of the config file'),
    ('randomnes.seed=5', 'randomness.seed', "no config section"),
    ('train_cfg.max_iter=10', 'train_cfg.max_iters',
     "IterBasedTrainLoop takes no argument 'max_iter'"),
    ('model.backbone.img_sz=28', 'model.backbone.img_size',
     "SemAIMViT takes no argument 'img_sz'"),
    ('default_hooks.checkpoint.intervl=1', 'default_hooks.checkpoint.interval',
     "SafeCheckpointHook takes no argument 'intervl'"),
])
def test_unknown_cfg_option_names_the_nearest_key(capsys, monkeypatch,
                                                  tmp_path, option, nearest,
                                                  why):
    wd = tmp_path / 'wd'
    line = error_of(capsys, monkeypatch, CONFIG, '--work-dir', wd,
                    '--cfg-options', option)
    key = option.split('=')[0]
    assert f'--cfg-options {key}: no config reads this key' in line
    assert why in line and line.endswith(f'did you mean {nearest}?')
    assert not wd.exists()


def test_known_new_keys_pass(capsys, monkeypatch, tmp_path):
    # keys the config does not set but whose class takes them
    line = error_of(capsys, monkeypatch, CONFIG, '--work-dir', tmp_path,
                    '--launcher', 'slurm', '--cfg-options',
                    'model.backbone.drop_path_rate=0.1',
                    'optim_wrapper.clip_grad.norm_type=2',
                    'default_hooks.checkpoint.save_last=True',
                    'train_dataloader.prefetch_factor=2')
    assert '--launcher slurm' in line  # got past the key check


def test_config_syntax_error_and_missing_file(capsys, monkeypatch, tmp_path):
    base = tmp_path / 'base.py'
    base.write_text('a = 1\nmodel = dict(type="X"\n')
    leaf = tmp_path / 'leaf.py'
    leaf.write_text("_base_ = ['./base.py']\n")
    line = error_of(capsys, monkeypatch, leaf)
    assert f'syntax error in config {base}, line 2' in line
    line = error_of(capsys, monkeypatch, tmp_path / 'nope.py')
    assert 'nope.py' in line and 'does not exist' in line


# 2, 11: a resume with changed settings
@pytest.mark.parametrize('change,named', [
    (['optim_wrapper.optimizer.lr=1e-5'],
     "optim_wrapper.optimizer.lr 0.003 -> 1e-05"),
    (['model.backbone.arch.embed_dims=64', 'model.head.embed_dims=64'],
     'model.backbone.arch.embed_dims 32 -> 64'),
])
def test_resume_with_changed_settings_is_refused(capsys, monkeypatch,
                                                 trained, change, named):
    before = sorted(os.listdir(trained))
    line = error_of(capsys, monkeypatch, CONFIG, '--work-dir', trained,
                    '--resume', '--cfg-options', *TINY,
                    'train_cfg.max_iters=2', *change)
    assert f'--resume from {trained}/iter_2.pth' in line and named in line
    assert 'load_from=' in line and 'no --resume' in line
    assert sorted(os.listdir(trained)) == before


def test_changed_settings_are_the_optimizer_and_model_ones():
    old = dict(train_cfg=dict(max_iters=200),
               optim_wrapper=dict(optimizer=dict(lr=1e-3, betas=(0.9, 0.95)),
                                  clip_grad=None),
               param_scheduler=[dict(type='CosineAnnealingLR', end=200)],
               model=dict(backbone=dict(init_cfg=dict(checkpoint='a.pth'))))
    new = dict(train_cfg=dict(max_iters=400),
               optim_wrapper=dict(optimizer=dict(lr=1e-3, betas=[0.9, 0.99]),
                                  clip_grad=dict(max_norm=1)),
               param_scheduler=[dict(type='CosineAnnealingLR', end=400)],
               model=dict(backbone=dict(init_cfg=dict(checkpoint='b.pth'))))
    assert changed_settings(old, new) == [
        'optim_wrapper.optimizer.betas [0.9, 0.95] -> [0.9, 0.99]']


def _fresh_lrs(max_iters):
    """The LR of each iteration (1-based) of a fresh run of the small
    config with train_cfg.max_iters=max_iters (its schedule rescaled)."""
    from mmengine.optim import CosineAnnealingLR, LinearLR
    sched = [dict(type='LinearLR', start_factor=1e-3, by_epoch=False,
                  begin=0, end=94),
             dict(type='CosineAnnealingLR', T_max=846, eta_min=1e-5,
                  by_epoch=False, begin=94, end=940)]
    rescale(sched, False, 940, max_iters)
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=3e-3)
    kinds = dict(LinearLR=LinearLR, CosineAnnealingLR=CosineAnnealingLR)
    built = [kinds[s.pop('type')](opt, **s) for s in sched]
    lrs = {}
    for it in range(1, max_iters + 1):
        lrs[it] = opt.param_groups[0]['lr']
        opt.step()
        for s in built:
            s.step()
    return lrs


def test_resume_with_a_longer_run_applies_the_schedule(trained, tmp_path):
    """--resume with max_iters 2 -> 6: the schedule of a fresh 6-iteration
    run, replayed to iteration 2, said in one line."""
    import shutil
    work = tmp_path / 'wd'
    shutil.copytree(trained, work)
    res = train(work, '--resume', iters=6)
    assert res.returncode == 0, res.stderr[-3000:]
    log = res.stdout + res.stderr
    said = [x for x in log.splitlines() if "with the config's param_sched"
            in x]
    assert len(said) == 1 and 'CosineAnnealingLR end 3->6' in said[0]
    got = {}
    for path in sorted(work.glob('*/vis_data/scalars.json')):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            got[rec['iter']] = rec['lr']
    want = _fresh_lrs(6)
    for it in range(3, 7):
        assert got[it] == pytest.approx(want[it], rel=1e-6), it


# 3: a short run keeps a warm-up that reaches the peak
def test_short_run_warmup_reaches_the_peak():
    from mmengine.optim import CosineAnnealingLR, LinearLR
    sched = [dict(type='LinearLR', start_factor=1e-3, by_epoch=False,
                  begin=0, end=94),
             dict(type='CosineAnnealingLR', T_max=846, eta_min=1e-5,
                  by_epoch=False, begin=94, end=940)]
    assert rescale(sched, False, 940, 10) == [
        'LinearLR end 94->2',
        'CosineAnnealingLR begin 94->2 end 940->10 T_max 846->8']
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=3e-3)
    kinds = dict(LinearLR=LinearLR, CosineAnnealingLR=CosineAnnealingLR)
    built = [kinds[s.pop('type')](opt, **s) for s in sched]
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]['lr'])
        opt.step()
        for s in built:
            s.step()
    assert lrs[0] == pytest.approx(3e-6) and max(lrs) == pytest.approx(3e-3)
    note = rescale([dict(type='LinearLR', by_epoch=False, begin=0, end=94),
                    dict(type='CosineAnnealingLR', by_epoch=False, begin=94,
                         end=940)], False, 940, 1)[-1]
    assert 'too short to honour the schedule' in note


# 12: a converted warm-up of 0 iterations
def test_converted_warmup_keeps_two_iterations():
    from mmengine.optim import CosineAnnealingLR, LinearLR
    sched = [dict(type='LinearLR', start_factor=1e-4, by_epoch=True,
                  begin=0, end=0.1, convert_to_iter_based=True),
             dict(type='CosineAnnealingLR', T_max=0.9, by_epoch=True,
                  begin=0.1, end=1, convert_to_iter_based=True)]
    fitted, said = fit_converted_windows(sched, 4, 4)  # 4 iters per epoch
    assert said == ['LinearLR iterations [0, 0) -> [0, 2)',
                    'CosineAnnealingLR iterations [0, 4) -> [2, 4)']
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    args = [{k: v for k, v in s.items()
             if k not in ('type', 'convert_to_iter_based')} for s in fitted]
    lin = LinearLR.build_iter_from_epoch(opt, **args[0], epoch_length=4)
    cos = CosineAnnealingLR.build_iter_from_epoch(opt, **args[1],
                                                  epoch_length=4)
    assert (lin.begin, lin.end, cos.begin, cos.end) == (0, 2, 2, 4)
    built = object()  # a resume passes the built schedulers again
    assert fit_converted_windows([built], 4, 4)[0][0] is built
    _, said = fit_converted_windows(sched, 1, 1)  # 1 image batch, 1 epoch
    assert 'too short to honour' in said[-1]


def test_a_cosine_without_end_moves_with_the_widened_warmup(tmp_path):
    """The pre-training configs' cosine has no end / T_max (mmengine ends
    it at max_epochs): it still starts where the widened warm-up ends."""
    runner = make_runner(tmp_path / 'wd', {}, epochs=1,
                         runner_cls=SemAIMRunner)  # 7 iterations per epoch
    runner.param_schedulers = [
        dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
             end=0.1, convert_to_iter_based=True),
        dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True,
             begin=0.1, convert_to_iter_based=True)]
    runner.train()
    lin, cos = runner.param_schedulers
    assert (lin.begin, lin.end, cos.begin, cos.end, cos.T_max) == \
        (0, 2, 2, 7, 5)


# 15: num_workers=0 with the configs' persistent_workers=True
def test_no_workers_drops_persistent_workers():
    loader = SemAIMRunner.build_dataloader(dict(
        dataset=ToyData(), batch_size=2, num_workers=0,
        persistent_workers=True, sampler=dict(type='DefaultSampler',
                                              shuffle=False),
        collate_fn=dict(type='default_collate')))
    assert not loader.persistent_workers and len(next(iter(loader))) == 2


# 8: disk full while saving
def test_disk_full_while_saving(tmp_path, monkeypatch):
    from mmengine.fileio import LocalBackend
    runner = make_runner(tmp_path / 'wd', {}, iters=6, ckpt_interval=3)
    real_put = LocalBackend.put
    calls = []

    def put(self, obj, filepath):
        calls.append(filepath)
        if len(calls) == 2:  # the second checkpoint: half written
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
            raise OSError(errno.ENOSPC, 'No space left on device')
        return real_put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', put)
    with pytest.raises(CheckpointSaveError) as e:
        runner.train()
    msg = str(e.value)
    assert 'iter_6.pth: No space left on device' in msg
    assert 'previous checkpoint' in msg and 'iter_3.pth is intact' in msg
    left = sorted(os.listdir(tmp_path / 'wd'))
    assert 'iter_3.pth' in left and not [x for x in left if '.tmp-' in x]
    assert (tmp_path / 'wd' / 'last_checkpoint').read_text() == 'iter_3.pth'


# 9: the work dir
def test_work_dir_is_a_file(capsys, monkeypatch, tmp_path):
    path = tmp_path / 'afile'
    path.write_text('x')
    line = error_of(capsys, monkeypatch, CONFIG, '--work-dir', path / 'sub')
    assert f'{path} is a file, not a folder' in line


def test_work_dir_not_writable(capsys, monkeypatch, tmp_path):
    target = '/sys/semaim-work-dir'  # sysfs: not writable, even for root
    try:
        os.mkdir(target)
        os.rmdir(target)
        pytest.skip('/sys is writable here')
    except OSError:
        pass
    line = error_of(capsys, monkeypatch, CONFIG, '--work-dir', target)
    assert 'cannot be written' in line and 'writable --work-dir' in line


# 10: the fine-tune's init_cfg.checkpoint is not a checkpoint
def test_finetune_checkpoint_is_not_a_checkpoint(capsys, monkeypatch,
                                                 tmp_path, trained):
    files = dict(empty=b'', noise=bytes(range(7, 250)) * 20,
                 text=b'weights are elsewhere\n')
    expect = dict(empty='file is empty', noise='not a torch checkpoint',
                  text='not a torch checkpoint')
    cases = [(tmp_path / k, expect[k]) for k in files]
    for (path, _), data in zip(cases, files.values()):
        path.write_bytes(data)
    cases.append((trained / 'last_checkpoint',
                  f"last_checkpoint pointer, not a checkpoint; pass the file "
                  f"it names: {trained}/iter_2.pth"))
    for path, why in cases:
        line = error_of(capsys, monkeypatch, FINETUNE, '--work-dir',
                        tmp_path / 'ft', '--cfg-options',
                        f'model.backbone.init_cfg.checkpoint={path}')
        assert 'model.backbone.init_cfg.checkpoint' in line and why in line
        assert 'weights_only=False' not in line


# 6: the fine-tune's patch grid differs from the pre-training's
def _vit(img_size):
    from mmpretrain.registry import MODELS
    return MODELS.build(dict(type='SemAIMViT', arch=dict(
        embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64),
        img_size=img_size, patch_size=4))


def test_finetune_grid_change(tmp_path, capsys):
    from mmengine.logging import MMLogger

    from semaim_mm.checkpoints import load_encoder_into
    MMLogger.get_instance('semaim-grid-test')  # the current logger
    wide = _vit((28, 36)).state_dict()  # a 7x9 grid
    bare = tmp_path / 'wide.pth'
    torch.save(dict(state_dict=wide), bare)
    with pytest.raises(ValueError) as e:
        load_encoder_into(_vit(28), str(bare))
    msg = str(e.value)
    assert 'holds 63 patches, not a square grid (7x9?)' in msg
    assert "this model's 7x7 grid" in msg and 'another width' not in msg
    recorded = tmp_path / 'recorded.pth'
    torch.save(dict(state_dict=wide, meta=dict(cfg=(
        "model = dict(backbone=dict(type='SemAIMViT', img_size=(28, 36), "
        'patch_size=4))'))), recorded)
    capsys.readouterr()
    load_encoder_into(_vit(28), str(recorded))
    log = capsys.readouterr().out  # mmengine's logger prints here
    assert "from the checkpoint's 7x9 patch grid to this model's 7x7" in log
    square = tmp_path / 'square.pth'
    torch.save(dict(state_dict=_vit(28).state_dict()), square)
    load_encoder_into(_vit(32), str(square))
    log = capsys.readouterr().out
    assert log.count('position table resized') == 1
    assert "checkpoint's 7x7 patch grid to this model's 8x8" in log


# 14: a launcher without its launcher
@pytest.mark.parametrize('launcher,missing', [
    ('pytorch', 'RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT not set'),
    ('slurm', 'SLURM_PROCID, SLURM_NTASKS, SLURM_NODELIST not set'),
])
def test_launcher_outside_its_launcher(capsys, monkeypatch, tmp_path,
                                       launcher, missing):
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT',
                'SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST'):
        monkeypatch.delenv(key, raising=False)
    wd = tmp_path / 'wd'
    line = error_of(capsys, monkeypatch, CONFIG, '--work-dir', wd,
                    '--launcher', launcher)
    assert f'--launcher {launcher} outside its launcher: {missing}' in line
    assert not wd.exists()


# 5: the order visualisation reads images like training does
def test_visualize_order_reads_16_bit_png(tmp_path):
    import cv2
    ramp = np.linspace(1000, 60000, 28 * 28).reshape(28, 28)
    path = str(tmp_path / 'g16.png')
    cv2.imwrite(path, ramp.astype(np.uint16))
    img = tool('visualize_order').load_images([path], (28, 28))[0]
    assert img.dtype == np.uint8 and img.shape == (28, 28, 3)
    assert (img == 255).mean() < 0.05
    assert np.abs(img[..., 0].astype(float) - ramp / 257).max() <= 2
