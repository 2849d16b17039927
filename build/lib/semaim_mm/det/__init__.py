"""mmdet modules of semaim-mm (imported by detection configs through
``custom_imports=dict(imports=['semaim_mm.det'])``; never by
``import semaim_mm``).

* :class:`SemAIMViTDet`: ViTDet-style SemAIM backbone with a multilevel
  (paper appendix) or simple (ViTDet) feature pyramid, registered in mmdet's
  ``MODELS``.
* :class:`SemAIMLayerDecayOptimizerConstructor`: layer-wise lr decay,
  registered in mmdet's ``OPTIM_WRAPPER_CONSTRUCTORS``.
"""
import semaim_mm  # noqa: F401  (compat shims)

from .backbone import DROPPED_KEYS, NEW_KEY_PATTERNS, SemAIMViTDet, is_new_key
from .layer_decay import SemAIMLayerDecayOptimizerConstructor

__all__ = [
    'SemAIMViTDet', 'SemAIMLayerDecayOptimizerConstructor',
    'NEW_KEY_PATTERNS', 'DROPPED_KEYS', 'is_new_key'
]
