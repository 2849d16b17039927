"""Detection scored on a subset of the canvases: mmdet's CocoMetric with an
ann_file counts every image of the file (the ones left out become missed
detections); EvaluatedImagesCocoMetric scores the evaluated ones only."""
import json

import pytest
import torch

pytest.importorskip('mmdet')
from mmdet.evaluation import CocoMetric  # noqa: E402

from semaim_mm.det import EvaluatedImagesCocoMetric  # noqa: E402

BOX = [10.0, 10.0, 30.0, 40.0]  # x, y, w, h


@pytest.fixture
def ann_file(tmp_path):
    """Two 64x64 images with one box each."""
    path = tmp_path / 'instances.json'
    path.write_text(json.dumps(dict(
        images=[dict(id=i, file_name=f'{i}.png', width=64, height=64)
                for i in (1, 2)],
        annotations=[dict(id=i, image_id=i, category_id=1, bbox=BOX,
                          area=BOX[2] * BOX[3], iscrowd=0)
                     for i in (1, 2)],
        categories=[dict(id=1, name='item')])))
    return str(path)


def _score(metric_type, ann_file) -> float:
    metric = metric_type(ann_file=ann_file, metric='bbox')
    metric.dataset_meta = dict(classes=('item', ))
    x, y, w, h = BOX
    pred = dict(bboxes=torch.tensor([[x, y, x + w, y + h]]),
                scores=torch.tensor([0.9]), labels=torch.tensor([0]))
    # only image 1 is evaluated (a subset of the file), predicted exactly
    metric.process({}, [dict(img_id=1, ori_shape=(64, 64),
                             pred_instances=pred)])
    return metric.evaluate(1)['coco/bbox_mAP']


def test_subset_scores_only_the_evaluated_images(ann_file):
    assert _score(EvaluatedImagesCocoMetric, ann_file) == pytest.approx(1.0)
    # the stock metric counts image 2's box as missed
    assert _score(CocoMetric, ann_file) < 0.6
