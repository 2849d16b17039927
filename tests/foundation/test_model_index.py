"""The project's models in mmpretrain's model index: list_models, get_model
with a local checkpoint, FeatureExtractor and inference_model on the tiny
configs, and the index shipped in a wheel."""
import glob
import os.path as osp
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
import yaml
from mmpretrain import FeatureExtractor, get_model, inference_model, \
    list_models

import semaim_mm  # noqa: F401
from semaim_mm.model_index import find_model_index

TINY = 'semaim_vit-tiny-p4_fashion-mnist'
TINY_FT = 'vit-tiny-p4_semaim-pre_1xb64-coslr-10e_fashion-mnist'


def test_every_config_of_the_index_exists_and_downstream_resolves():
    index = find_model_index()
    root = osp.dirname(index)
    names = set(list_models('*semaim*'))
    for path in yaml.safe_load(open(index))['Import']:
        for m in yaml.safe_load(open(osp.join(root, path)))['Models']:
            assert m['Name'] in names
            assert osp.isfile(osp.join(root, m['Config'])), m['Config']
            assert 'Weights' not in m  # nothing published: no invented URL
            assert set(m.get('Downstream', [])) <= names, m['Name']
    assert {'semaim_vitb_800e', 'semaim_vitl_800e', TINY} <= set(
        list_models('semaim*'))


def test_get_model_with_a_local_checkpoint(tmp_path):
    torch.manual_seed(0)
    trained = get_model(TINY)
    trained.init_weights()
    path = tmp_path / 'tiny.pth'
    torch.save(dict(state_dict=trained.state_dict()), path)
    loaded = get_model(TINY, pretrained=str(path))
    for key, value in trained.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_feature_extractor_on_the_semaim_backbone():
    """The fine-tuning entry's SemAIMViT (GAP): one width-128 feature per
    image, the same as the backbone's own forward."""
    model = get_model(TINY_FT, backbone=dict(init_cfg=None))
    model.init_weights()
    extractor = FeatureExtractor(model, device='cpu')
    image = np.random.default_rng(0).integers(0, 255, (28, 28, 3),
                                              dtype=np.uint8)
    feats = extractor(image)[0]
    assert len(feats) == 1 and feats[0].shape == (128, )
    x = model.data_preprocessor(
        dict(inputs=[torch.from_numpy(image).permute(2, 0, 1)]))['inputs']
    with torch.no_grad():
        torch.testing.assert_close(feats[0], model.backbone(x)[-1][0])


def test_inference_model_classifies_with_the_tiny_finetune_entry():
    model = get_model(TINY_FT, backbone=dict(init_cfg=None))
    image = np.random.default_rng(0).integers(0, 255, (28, 28, 3),
                                              dtype=np.uint8)
    result = inference_model(model, image)
    assert 0 <= result['pred_label'] < 10
    assert len(result['pred_scores']) == 10


@pytest.mark.slow  # builds a wheel: about 30 s on a 2-core host
def test_wheel_ships_the_index_and_its_configs(source_copy, tmp_path):
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps',
                    '--no-build-isolation', '-q', '-w', str(tmp_path),
                    source_copy], check=True, capture_output=True)
    wheel, = glob.glob(str(tmp_path / 'semaim_mm-*.whl'))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert 'semaim_mm/.mim/model-index.yml' in names
    assert 'semaim_mm/.mim/configs/pretrain/metafile.yml' in names
    assert 'semaim_mm/.mim/configs/pretrain/semaim_vitb_800e.py' in names
