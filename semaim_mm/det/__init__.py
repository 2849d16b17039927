"""mmdet modules of semaim-mm (imported by detection configs through
``custom_imports=dict(imports=['semaim_mm.det'])``; never by
``import semaim_mm``).

* :class:`SemAIMViTDet`: ViTDet-style SemAIM backbone with a multilevel
  (paper appendix) or simple (ViTDet) feature pyramid, registered in mmdet's
  ``MODELS``.
* :class:`SemAIMLayerDecayOptimizerConstructor`: layer-wise lr decay,
  registered in mmdet's ``OPTIM_WRAPPER_CONSTRUCTORS``.
* :class:`EvaluatedImagesCocoMetric`: COCO AP over the images a loader
  evaluated (a subset of the annotation file), in mmdet's ``METRICS``.

Importing it imports :mod:`semaim_mm` first (a package before its
subpackage), so the version shims apply before mmdet runs.

On a machine with a GPU, importing it checks that mmcv has CUDA ops
(:func:`check_mmcv_cuda_ops`): the configs import it while they load, so a
CPU-only mmcv stops a detection run before anything is built.
"""
from .backbone import DROPPED_KEYS, NEW_KEY_PATTERNS, SemAIMViTDet, is_new_key
from .layer_decay import SemAIMLayerDecayOptimizerConstructor
from .metrics import EvaluatedImagesCocoMetric
from .mmcv_ops import check_mmcv_cuda_ops

check_mmcv_cuda_ops()

__all__ = [
    'SemAIMViTDet', 'SemAIMLayerDecayOptimizerConstructor',
    'EvaluatedImagesCocoMetric',
    'NEW_KEY_PATTERNS', 'DROPPED_KEYS', 'is_new_key', 'check_mmcv_cuda_ops'
]
