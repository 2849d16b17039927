"""COCO box / mask AP over the images a loader evaluated.

mmdet's ``CocoMetric`` with an ``ann_file`` scores every image of that file:
when the loader evaluates a subset (``dataset.indices``), the images left out
count as missed detections. The tiny mosaic detection config evaluates a
subset of the validation canvases, and the reproduction matrix halves of
them (tuning part, reported part), so both use this metric.
"""
from typing import Dict

from mmdet.evaluation import CocoMetric
from mmdet.registry import METRICS


@METRICS.register_module()
class EvaluatedImagesCocoMetric(CocoMetric):
    """:class:`CocoMetric` restricted to the evaluated images."""

    def compute_metrics(self, results: list) -> Dict[str, float]:
        self.img_ids = [gt['img_id'] for gt, _ in results]
        return super().compute_metrics(results)
