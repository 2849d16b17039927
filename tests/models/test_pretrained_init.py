"""An encoder is never silently random: every config family that starts
from a checkpoint (pre-training ``load_from``, fine-tune / linear
``init_cfg``, the k-NN tool) loads the authors' checkpoints converted on the
fly, refuses partial encoders and empty / missing paths with a message naming
the config key, and tools/train.py says so in one line."""
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from semaim_mm.checkpoints import (load_encoder_state_dict, read_checkpoint,
                                   reference_to_semaim, state_dict_of)
from semaim_mm.datasets.checks import DataCheckError, check_train_config

from .helpers import reference_semaim

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FT = osp.join(ROOT, 'configs/benchmarks/finetune/'
              'vit-tiny-p4_1xb64-coslr-10e_fashion-mnist.py')
LIN = osp.join(ROOT, 'configs/benchmarks/linear/'
               'vit-tiny-p4_1xb512-linear-coslr-30e_fashion-mnist.py')


@pytest.fixture(scope='module')
def authors(semaim_reference):
    """(expected.json, misc_save_model.pth path: the Namespace layout)."""
    with open(osp.join(semaim_reference, 'expected.json')) as f:
        expected = json.load(f)
    return expected, osp.join(semaim_reference, 'misc_save_model.pth')


def authors_arch(expected):
    a = expected['model']
    return dict(arch=dict(embed_dims=a['embed_dim'], num_layers=a['depth'],
                          num_heads=a['num_heads'],
                          feedforward_channels=4 * a['embed_dim']),
                img_size=a['img_size'], patch_size=a['patch_size'])


def classifier(path, ckpt, **backbone):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(path)
    cfg.model.backbone.update(backbone)
    if ckpt is not None:
        cfg.model.backbone.init_cfg.checkpoint = ckpt
    return cfg, MODELS.build(cfg.model)


@pytest.fixture(scope='module')
def semaim_ckpt(tmp_path_factory):
    """A checkpoint of the tiny Fashion-MNIST pre-training config."""
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs/pretrain/semaim_vit-tiny-p4_fashion-mnist.py'))
    model = MODELS.build(cfg.model)
    model.init_weights()
    path = str(tmp_path_factory.mktemp('ckpt') / 'iter_1.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path, model.backbone.state_dict()


@pytest.mark.parametrize('config', [FT, LIN])
def test_authors_checkpoint_is_converted_on_the_fly(authors, config):
    expected, path = authors
    arch = authors_arch(expected)
    if config == LIN:  # the probe freezes every block
        arch['frozen_stages'] = expected['model']['depth']
    _, model = classifier(config, path, **arch)
    model.init_weights()
    enc = reference_to_semaim(state_dict_of(read_checkpoint(path)))
    own = model.backbone.state_dict()
    for key, value in own.items():
        if not key.startswith('ln2.'):  # GAP norm: the documented new key
            assert torch.equal(value, enc['backbone.' + key]), key


def test_prefix_none_still_finds_the_encoder(semaim_ckpt):
    path, weights = semaim_ckpt
    _, model = classifier(FT, path)
    model.backbone.init_cfg.prefix = None
    model.init_weights()
    assert torch.equal(model.backbone.layers[5].attn.qkv.weight,
                       weights['layers.5.attn.qkv.weight'])


def test_partial_encoder_is_an_error_listing_the_missing(
        semaim_ckpt, tmp_path):
    path, _ = semaim_ckpt
    sd = {k: v for k, v in read_checkpoint(path)['state_dict'].items()
          if not k.startswith('backbone.layers.5.')}
    partial = str(tmp_path / 'partial.pth')
    torch.save(dict(state_dict=sd), partial)
    _, model = classifier(FT, partial)
    with pytest.raises(KeyError, match=r"missing \['layers\.5\.ln1\.weight'"):
        model.init_weights()
    detector = str(tmp_path / 'det.pth')
    torch.save(dict(state_dict={'backbone.' + k: v for k, v in sd.items()
                                if k.startswith('backbone.')} | {
                                    'roi_head.x': torch.zeros(1)}), detector)
    _, model = classifier(FT, detector)
    model.backbone.init_cfg.prefix = None
    with pytest.raises(ValueError, match="prefix='backbone.'"):
        model.init_weights()


@pytest.mark.parametrize('ckpt,match', [
    ('', r"model\.backbone\.init_cfg\.checkpoint is empty: .*--cfg-options "
     r'model\.backbone\.init_cfg\.checkpoint=PATH.*model\.backbone\.'
     r'init_cfg=None'),
    ('nowhere.pth', r"model\.backbone\.init_cfg\.checkpoint='nowhere\.pth' "
     'does not exist'),
])
def test_empty_or_missing_path_names_the_config_key(ckpt, match):
    cfg, model = classifier(FT, ckpt)
    with pytest.raises(FileNotFoundError, match=match):
        model.init_weights()
    with pytest.raises(DataCheckError, match=match):
        check_train_config(cfg)


def test_preflight_dry_runs_the_loader(semaim_ckpt, tmp_path):
    path, _ = semaim_ckpt
    cfg, _ = classifier(FT, path)
    check_train_config(cfg)  # fits
    wider, _ = classifier(FT, path, arch=dict(
        embed_dims=64, num_layers=6, num_heads=4, feedforward_channels=128))
    with pytest.raises(DataCheckError, match='size mismatch'):
        check_train_config(wider)


def test_train_tool_prints_one_line(python_env, semaim_ckpt, tmp_path):
    path, _ = semaim_ckpt
    deeper = ('model.backbone.arch.num_layers=8', )
    for options in ((), ('model.backbone.init_cfg.checkpoint=' + path, ) +
                    deeper):
        out = subprocess.run(
            [sys.executable, 'tools/train.py', FT, '--work-dir',
             str(tmp_path / 'w')] + (['--cfg-options', *options] if options
                                     else []), cwd=ROOT,
            env=python_env, capture_output=True, text=True)
        assert out.returncode != 0
        assert 'Traceback' not in out.stderr, out.stderr[-2000:]
        last = out.stderr.strip().splitlines()[-1]
        assert last.startswith('error: model.backbone.init_cfg.checkpoint')
        if options:
            assert "missing ['layers.6." in last
        else:
            assert 'is empty' in last


def test_knn_tool_loads_the_authors_checkpoint(authors):
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import knn_eval
    expected, path = authors
    cfg = Config(dict(model=dict(type='ImageClassifier', backbone=dict(
        type='SemAIMViT', **authors_arch(expected)))))
    model = knn_eval.build_model(cfg, path)
    enc, kind = load_encoder_state_dict(path)
    assert kind == 'reference'
    assert torch.equal(model.backbone.pos_embed, enc['pos_embed'])
    from semaim_mm.preflight import PreflightError
    with pytest.raises(PreflightError, match=r"'nowhere\.pth' does not exist"):
        knn_eval.main([FT, 'nowhere.pth'])


# --------------------------------------------------- pre-training load_from
def reference_runner(expected, work_dir, load_from, resume=False):
    from mmengine.runner import Runner
    model = reference_semaim(expected)
    model.init_weights()
    return Runner(model=model, work_dir=str(work_dir), load_from=load_from,
                  resume=resume, default_scope='mmpretrain',
                  default_hooks=dict(checkpoint=dict(
                      type='SafeCheckpointHook')))


def test_pretraining_load_from_converts_the_authors_checkpoint(
        authors, tmp_path):
    expected, path = authors
    runner = reference_runner(expected, tmp_path, path)
    runner.call_hook('before_run')
    runner.load_or_resume()
    want = reference_to_semaim(state_dict_of(read_checkpoint(path)))
    got = runner.model.state_dict()
    assert want.keys() == {k for k in got if not k.startswith('target')}
    assert all(torch.equal(got[k], v) for k, v in want.items())
    check_train_config(Config(dict(model=dict(type='SemAIM'),
                                   load_from=path)))


def test_pretraining_resume_from_the_authors_checkpoint_is_refused(
        authors, tmp_path):
    from semaim_mm.engine import CheckpointCheckError
    expected, path = authors
    runner = reference_runner(expected, tmp_path, path, resume=True)
    with pytest.raises(CheckpointCheckError,
                       match=r'--resume=.*semaim_reference\.py IN OUT'):
        runner.call_hook('before_run')
    with pytest.raises(DataCheckError, match='semaim_reference.py IN OUT'):
        check_train_config(Config(dict(model=dict(type='SemAIM'),
                                       load_from=path, resume=True)))
    with pytest.raises(DataCheckError, match='load_from is empty'):
        check_train_config(Config(dict(model=dict(type='SemAIM'),
                                       load_from='')))
