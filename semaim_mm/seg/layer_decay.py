"""Layer-wise learning-rate decay for the SemAIM ViT in mmseg models.

mmseg's ``LearningRateDecayOptimizerConstructor`` / ``LayerDecayOptimizerConstructor``
only accept backbones whose class name contains ``BEiT``, ``MAE`` or
``ConvNeXt`` (``NotImplementedError`` otherwise), and their no-decay test
compares un-prefixed names (``'cls_token'``) with prefixed ones
(``'backbone.cls_token'``), so the CLS token gets weight decay. This
constructor uses the same layer ids as BEiT/MAE fine-tuning:

* ``backbone.cls_token``, ``backbone.pos_embed``, ``backbone.patch_embed.*``
  -> 0
* ``backbone.layers.i.*`` -> i + 1
* everything else (backbone final norms, neck, decode/auxiliary heads)
  -> num_layers + 1

lr = base_lr * decay_rate ** (num_layers + 1 - layer_id); weight decay 0
for biases, 1-D parameters (norms), ``cls_token``, ``pos_embed`` and
``paramwise_cfg.no_decay_names``.

paramwise_cfg keys: ``decay_rate`` (or ``layer_decay_rate``),
``num_layers`` (default: ``model.backbone.num_layers``),
``no_decay_names`` (extra substrings).
"""
from typing import List

from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn

NO_DECAY_NAMES = ('backbone.cls_token', 'backbone.pos_embed')


def get_layer_id(name: str, num_layers: int) -> int:
    """Layer id of a parameter of a segmentor with a ViT backbone."""
    if name in NO_DECAY_NAMES or name.startswith('backbone.patch_embed.'):
        return 0
    if name.startswith('backbone.layers.'):
        return int(name.split('.')[2]) + 1
    return num_layers + 1


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SemAIMLayerDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """See module doc."""

    def add_params(self, params: List[dict], module: nn.Module,
                   **kwargs) -> None:
        cfg = dict(self.paramwise_cfg or {})
        rate = cfg.get('decay_rate', cfg.get('layer_decay_rate'))
        if rate is None:
            raise KeyError('paramwise_cfg needs decay_rate (layer decay, '
                           'e.g. 0.65)')
        num_layers = cfg.get('num_layers')
        if num_layers is None:
            num_layers = module.backbone.num_layers
        extra = tuple(cfg.get('no_decay_names', ()))
        groups = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue  # e.g. the fixed sin-cos pos_embed
            no_decay = (param.ndim == 1 or name.endswith('.bias')
                        or name in NO_DECAY_NAMES
                        or any(n in name for n in extra))
            layer_id = get_layer_id(name, num_layers)
            key = f'layer_{layer_id}_{"no_decay" if no_decay else "decay"}'
            if key not in groups:
                scale = rate**(num_layers + 1 - layer_id)
                groups[key] = dict(
                    params=[], param_names=[], lr_scale=scale,
                    group_name=key, lr=scale * self.base_lr,
                    weight_decay=0. if no_decay else self.base_wd)
            groups[key]['params'].append(param)
            groups[key]['param_names'].append(name)
        MMLogger.get_current_instance().info(
            'layer decay groups: ' + ', '.join(
                f'{k}: lr x{g["lr_scale"]:.4g} ({len(g["params"])})'
                for k, g in sorted(groups.items())))
        params.extend(groups.values())
