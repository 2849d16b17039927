"""mmsegmentation modules of semaim-mm (imported by the seg configs through
``custom_imports=dict(imports=['semaim_mm.seg'])``; never by
``import semaim_mm``).

* :class:`SemAIMViTSeg` (mmseg ``MODELS``): the SemAIM encoder as a
  multi-level backbone for UperNet.
* :class:`SemAIMLayerDecayOptimizerConstructor` (mmseg
  ``OPTIM_WRAPPER_CONSTRUCTORS``): layer-wise lr decay for it.

Importing it imports :mod:`semaim_mm` first (a package before its
subpackage), so the version shims apply before mmseg runs.
"""
from .backbone import SemAIMViTSeg
from .layer_decay import SemAIMLayerDecayOptimizerConstructor, get_layer_id

__all__ = ['SemAIMViTSeg', 'SemAIMLayerDecayOptimizerConstructor',
           'get_layer_id']
