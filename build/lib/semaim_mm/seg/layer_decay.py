"""Layer-wise lr decay for the SemAIM ViT in mmseg (the shared
implementation is :mod:`semaim_mm.layer_decay`); ``paramwise_cfg`` must give
``decay_rate`` (or ``layer_decay_rate``), e.g. 0.65."""
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS

from semaim_mm.layer_decay import LayerDecayConstructor
from semaim_mm.layer_decay import layer_id as _layer_id


def get_layer_id(name: str, num_layers: int) -> int:
    """Layer id of a parameter of a segmentor with a ViT backbone."""
    return _layer_id(name, num_layers, 'backbone.')


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SemAIMLayerDecayOptimizerConstructor(LayerDecayConstructor):
    """Layer-wise lr decay in mmseg (see :mod:`semaim_mm.layer_decay`)."""
