"""tools/knn_eval.py on a SemAIM checkpoint (the demo: tests/reproduce)."""
import json
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))
PRETRAIN = osp.join(ROOT, 'configs', 'pretrain',
                    'semaim_vit-tiny-p4_fashion-mnist.py')


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    from mmpretrain.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(PRETRAIN).model)
    model.init_weights()
    path = str(tmp_path_factory.mktemp('ckpt') / 'iter_1.pth')
    torch.save(dict(state_dict=model.state_dict()), path)
    return path


@pytest.mark.parametrize('config', [
    PRETRAIN,
    osp.join(ROOT, 'configs', 'benchmarks', 'knn',
             'vit-tiny-p4_knn_fashion-mnist.py'),
])
def test_knn_eval_tool(config, ckpt, tmp_path, capsys):
    import knn_eval
    out = str(tmp_path / 'knn.json')
    res = knn_eval.main([config, ckpt, '--bank-size', '60', '--query-size',
                         '20', '--ks', '1', '5', '--out', out])
    assert set(res) == {'knn/top1_k1', 'knn/top1_k5'}
    assert json.load(open(out)) == pytest.approx(res)
    assert 'knn/top1_k5' in capsys.readouterr().out


def test_k_above_the_bank_is_a_preflight_error(ckpt, monkeypatch):
    """--ks 10 50 with a bank of 20: one error before the model is built
    or any feature extracted."""
    import knn_eval
    from semaim_mm.preflight import PreflightError
    monkeypatch.setattr(knn_eval, 'build_model', lambda *a: 1 / 0)
    with pytest.raises(PreflightError, match='k=50 exceeds the bank size 20'):
        knn_eval.main([PRETRAIN, ckpt, '--bank-size', '20', '--ks', '10',
                       '50'])


def test_knn_settings_from_pretrain_config():
    import knn_eval
    s = knn_eval.knn_settings(Config.fromfile(PRETRAIN))
    assert s['bank_dataset']['split'] == 'train_minus_val'
    assert s['query_dataset']['split'] == 'test'
    assert s['bank_dataset']['pipeline'] == [dict(type='PackInputs')]

