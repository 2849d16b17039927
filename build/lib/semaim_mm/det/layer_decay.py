"""Layer-wise lr decay for :class:`SemAIMViTDet` in mmdet (the shared
implementation is :mod:`semaim_mm.layer_decay`)::

    optim_wrapper = dict(
        type='AmpOptimWrapper',
        constructor='SemAIMLayerDecayOptimizerConstructor',
        optimizer=dict(type='AdamW', lr=8e-5, betas=(0.9, 0.999),
                       weight_decay=0.1),
        paramwise_cfg=dict(decay_rate=0.7))
"""
from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS

from semaim_mm.layer_decay import LayerDecayConstructor


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SemAIMLayerDecayOptimizerConstructor(LayerDecayConstructor):
    """Layer-wise lr decay in mmdet; ``decay_rate`` defaults to 0.7 (ViTDet's
    value for ViT-B)."""
    default_decay_rate = 0.7
