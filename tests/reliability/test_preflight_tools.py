"""Every tool's pre-flight: missing data, a malformed COCO json, a detector
checkpoint, a truncated image each give one 'error: ...' line naming the fix,
and no traceback (subprocess runs; nothing is trained)."""
import json
import os.path as osp
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from semaim_mm.datasets.checks import DataCheckError, check_coco_annotation
from semaim_mm.datasets.mosaic import META_FILE, VERSION

from ._real import CONFIG, PYTHON, ROOT, env

DET = 'configs/det/semaim_vit-tiny_mask-rcnn_fpn_fashion-mosaic.py'
KNN_IN1K = 'configs/benchmarks/knn/vit-base-p16_knn_in1k.py'


def run(*args, tool='tools/test.py', bash=False):
    cmd = (['bash', tool] if bash else [PYTHON, tool]) + [str(a) for a in
                                                          args]
    return subprocess.run(cmd, cwd=ROOT, env=dict(env(), PYTHON=PYTHON),
                          capture_output=True, text=True, timeout=600)


def error(res) -> str:
    out = res.stdout + res.stderr
    assert res.returncode == 1, out[-3000:]
    assert 'Traceback' not in out, out[-3000:]
    lines = [x for x in res.stderr.splitlines() if x.startswith('error: ')]
    assert len(lines) == 1, res.stderr[-3000:]
    return lines[0]


@pytest.fixture(scope='module')
def detector_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp('det') / 'mask_rcnn.pth'
    torch.save(dict(state_dict={'backbone.layers.0.ln1.weight': torch.ones(2),
                                'rpn_head.rpn_conv.weight': torch.ones(2),
                                'roi_head.bbox_head.fc_cls.weight':
                                torch.ones(2)}), path)
    return str(path)


@pytest.fixture
def coco_root(tmp_path):
    """A mosaic-layout COCO folder with one good image and annotation."""
    root = tmp_path / 'fashion_mosaic' / 'coco'
    (root / 'annotations').mkdir(parents=True)
    (root / 'val').mkdir()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(root / 'val/0.png')
    ann = dict(images=[dict(id=1, file_name='0.png', width=32, height=32)],
               annotations=[dict(id=1, image_id=1, category_id=1,
                                 bbox=[2, 2, 10, 10], area=100, iscrowd=0)],
               categories=[dict(id=1, name='T-shirt/top')])
    (root / 'annotations/instances_val.json').write_text(json.dumps(ann))
    (root / META_FILE).write_text(json.dumps(dict(version=VERSION)))
    return root


def det_opts(root):
    return ['--cfg-options', f'test_dataloader.dataset.data_root={root}/',
            f'test_evaluator.ann_file={root}/annotations/instances_val.json']


@pytest.mark.parametrize('tool,bash', [('tools/test.py', False),
                                       ('tools/dist_test.sh', True)])
def test_test_tools_missing_mosaic_data(tmp_path, detector_ckpt, tool, bash):
    root = tmp_path / 'data' / 'fashion_mosaic' / 'coco'
    args = [DET, detector_ckpt] + (['1'] if bash else [])
    line = error(run(*args, *det_opts(root), tool=tool, bash=bash))
    assert 'instances_val.json' in line and 'does not exist' in line
    assert ('python tools/dataset_converters/fashion_mosaic.py --out '
            f'{tmp_path}/data/fashion_mosaic') in line
    assert 'COCO 2017' not in line and 'annotations_trainval' not in line


@pytest.mark.slow  # tools/test.py on a detector: about 21 s on the slow host
def test_test_py_malformed_json_and_bad_boxes(coco_root, detector_ckpt):
    ann = coco_root / 'annotations/instances_val.json'
    good = ann.read_text()
    ann.write_text(good[:len(good) // 2])
    line = error(run(DET, detector_ckpt, *det_opts(coco_root)))
    assert 'is not valid JSON' in line and 'download it again' in line
    data = json.loads(good)
    data['annotations'].append(dict(id=2, image_id=1, category_id=1,
                                    bbox=[5, 5, -4, 3], area=1, iscrowd=0))
    ann.write_text(json.dumps(data))
    res = run(DET, detector_ckpt, '--preflight-only', *det_opts(coco_root))
    assert res.returncode == 0, res.stderr[-3000:]
    assert '1 of 2 boxes' in res.stdout and 'negative size' in res.stdout
    line = error(run(DET, detector_ckpt, '--preflight-only', '--strict-data',
                     *det_opts(coco_root)))
    assert 'annotations[1] (id 2) bbox [5, 5, -4, 3] has negative size' in \
        line


def test_bad_boxes_reported_with_first_offenders(tmp_path):
    anns = [dict(id=i, image_id=1, category_id=1, bbox=box) for i, box in
            enumerate([[0, 0, 0, 5], [0, 0, 5, -1], [30, 30, 10, 10],
                       [1, 1, 2, 2], [-9, 0, 3, 3]])]
    path = tmp_path / 'a.json'
    path.write_text(json.dumps(dict(
        images=[dict(id=1, file_name='a.png', width=32, height=32)],
        annotations=anns, categories=[dict(id=1, name='x')])))
    with pytest.raises(DataCheckError, match=r'4 of 5 boxes.*zero size.*'
                       r'negative size.*outside its 32x32 image; \.\.\.'):
        check_coco_annotation(str(path), strict=True)
    assert check_coco_annotation(str(path))['annotations'] == anns


def test_test_py_refuses_a_detector_checkpoint_for_semaim(detector_ckpt):
    line = error(run(CONFIG, detector_ckpt, '--preflight-only'))
    assert 'detector checkpoint (mmdet)' in line


def test_test_py_truncated_image(coco_root, tmp_path):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(Config.fromfile(osp.join(ROOT, DET)).model)
    ckpt = tmp_path / 'det.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    png = coco_root / 'val/0.png'
    png.write_bytes(png.read_bytes()[:40])
    line = error(run(DET, ckpt, '--work-dir', tmp_path / 'wd',
                     *det_opts(coco_root)))
    assert f'Bad image {png}: PNG is truncated' in line


def test_knn_eval_missing_data_and_detector_checkpoint(tmp_path,
                                                       detector_ckpt):
    line = error(run(KNN_IN1K, detector_ckpt, '--cfg-options',
                     f'knn.bank_dataset.data_root={tmp_path}/imagenet',
                     f'knn.query_dataset.data_root={tmp_path}/imagenet',
                     tool='tools/knn_eval.py'))
    assert f"dataset folder '{tmp_path}/imagenet/train' does not exist" in \
        line
    line = error(run(CONFIG, detector_ckpt, tool='tools/knn_eval.py'))
    assert 'detector checkpoint (mmdet)' in line and 'k-NN' in line


def test_visualize_order_bad_image_and_checkpoint(tmp_path, detector_ckpt):
    out = str(tmp_path / 'o.png')
    vis = 'tools/visualize_order.py'
    line = error(run(CONFIG, 'none', tmp_path / 'nope.png', '--out', out,
                     tool=vis))
    assert 'nope.png' in line and 'does not exist' in line
    img = tmp_path / 'cut.png'
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(img)
    img.write_bytes(img.read_bytes()[:40])
    line = error(run(CONFIG, 'none', img, '--out', out, tool=vis))
    assert 'PNG is truncated' in line
    line = error(run(CONFIG, detector_ckpt, '--fashion-mnist', '0',
                     '--out', out, tool=vis))
    assert 'detector checkpoint (mmdet)' in line
    assert not osp.exists(out)
