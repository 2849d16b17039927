"""semaim_mm.apis.train: the checks of tools/train.py as exceptions, a
loaded config left unchanged, and a 2-iteration run in this process."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.logging import MessageHub

from semaim_mm import apis
from semaim_mm.engine import NothingToResumeError
from semaim_mm.engine.options import ConfigError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs/pretrain/semaim_vit-tiny-p4_fashion-mnist.py')
SMALL = {
    'train_dataloader.num_workers': 0,
    'train_dataloader.persistent_workers': False,
    'train_dataloader.batch_size': 4,
    'model.backbone.arch.num_layers': 2, 'model.neck.depth': 2,
    'model.backbone.arch.embed_dims': 32, 'model.head.embed_dims': 32,
    'model.backbone.arch.feedforward_channels': 64,
    'randomness.deterministic': True,
}


@pytest.fixture(autouse=True)
def _fresh_hub():
    yield
    MessageHub._instance_dict.clear()


def test_unknown_option_raises_before_the_work_dir_exists(tmp_path):
    with pytest.raises(ConfigError, match='did you mean train_cfg.max_iters'):
        apis.train(CONFIG, str(tmp_path / 'wd'),
                   cfg_options={'max_iters': 10})
    assert not (tmp_path / 'wd').exists()


def test_resume_without_a_work_dir_raises(tmp_path):
    with pytest.raises(NothingToResumeError):
        apis.train(CONFIG, str(tmp_path / 'typo'), resume=True)
    assert not (tmp_path / 'typo').exists()


def test_excluding_switches_are_refused(tmp_path):
    with pytest.raises(ValueError, match='exclude'):
        apis.train(CONFIG, str(tmp_path), amp=True, fp32=True)


def test_a_loaded_config_is_trained_as_a_copy(tmp_path):
    cfg = Config.fromfile(CONFIG)
    before = cfg.to_dict()
    runner = apis.train(cfg, str(tmp_path / 'wd'), fp32=True,
                        cfg_options=dict(SMALL, **{
                            'train_cfg.max_iters': 2,
                            'default_hooks.checkpoint.interval': 2}))
    assert cfg.to_dict() == before
    assert runner.iter == 2 and runner.work_dir == str(tmp_path / 'wd')
    assert osp.isfile(tmp_path / 'wd' / 'iter_2.pth')
    # the work dir is free again: the same process resumes in it
    assert not osp.exists(tmp_path / 'wd' / '.run.lock')
    MessageHub._instance_dict.clear()
    runner = apis.train(cfg, str(tmp_path / 'wd'), fp32=True, resume=True,
                        cfg_options=dict(SMALL, **{
                            'train_cfg.max_iters': 3,
                            'default_hooks.checkpoint.interval': 2}))
    assert runner.iter == 3


def test_semaim_without_the_sample_iteration_hook_is_one_error(tmp_path):
    from semaim_mm.preflight import PreflightError
    cfg = Config.fromfile(CONFIG)
    del cfg.default_hooks['sample_iteration']
    with pytest.raises(PreflightError, match='SampleIterationHook'):
        apis.train(cfg, str(tmp_path / 'wd'), preflight_only=True)
    assert not (tmp_path / 'wd').exists()


def test_auto_scale_lr_without_a_base_batch_size_is_one_error(tmp_path):
    from semaim_mm.preflight import PreflightError
    cfg = Config.fromfile(CONFIG)
    cfg.pop('auto_scale_lr', None)
    with pytest.raises(PreflightError, match='base_batch_size'):
        apis.train(cfg, str(tmp_path / 'wd'), auto_scale_lr=True,
                   preflight_only=True)


def test_test_evaluates_a_checkpoint_in_this_process(tmp_path):
    """apis.test on a 2-iteration fine-tune's checkpoint returns the
    config's metric, computed on the data it was given."""
    ft = osp.join(ROOT, 'configs/benchmarks/finetune/'
                  'vit-tiny-p4_1xb64-coslr-10e_fashion-mnist.py')
    small = {'train_dataloader.dataset.indices': 128,
             'val_dataloader.dataset.indices': 64,
             'test_dataloader.dataset.indices': 64,
             'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1,
             'default_hooks.checkpoint.interval': 1,
             'model.backbone.init_cfg': None}
    apis.train(ft, str(tmp_path / 'ft'), cfg_options=small)
    MessageHub._instance_dict.clear()
    metrics = apis.test(ft, str(tmp_path / 'ft' / 'epoch_1.pth'),
                        str(tmp_path / 'test'), cfg_options={
                            'test_dataloader.dataset.indices': 64})
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0
