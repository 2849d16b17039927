"""Layer-wise learning-rate decay for :class:`SemAIMViTDet` in mmdet.

mmdet 3.3.0's ``LearningRateDecayOptimizerConstructor`` only knows ConvNeXt
(it raises ``NotImplementedError`` for any other backbone), so this project
registers its own constructor in mmdet's ``OPTIM_WRAPPER_CONSTRUCTORS``::

    optim_wrapper = dict(
        type='AmpOptimWrapper',
        constructor='SemAIMLayerDecayOptimizerConstructor',
        optimizer=dict(type='AdamW', lr=8e-5, betas=(0.9, 0.999),
                       weight_decay=0.1),
        paramwise_cfg=dict(decay_rate=0.7))

Layer ids (ViTDet / BEiT convention), with ``L`` backbone blocks:
``backbone.patch_embed``, ``backbone.pos_embed``, ``backbone.cls_token`` -> 0;
``backbone.layers.i`` -> ``i + 1``; everything else (final norm, pyramid,
neck, RPN and RoI heads) -> ``L + 1``. A parameter's lr is
``base_lr * decay_rate ** (L + 1 - layer_id)``.
No weight decay for 1-D parameters (norms, biases), ``pos_embed``,
``cls_token``, relative position tables (``rel_pos_h`` / ``rel_pos_w``) and
any name listed in ``paramwise_cfg['no_decay_names']``.
"""
import re
from typing import List

from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn

NO_DECAY_NAMES = ('pos_embed', 'cls_token', 'rel_pos_h', 'rel_pos_w')


def layer_id(name: str, num_layers: int, prefix: str = 'backbone.') -> int:
    """Layer id of a parameter of the detector (see the module docstring)."""
    if not name.startswith(prefix):
        return num_layers + 1
    name = name[len(prefix):]
    if name.startswith(('patch_embed', 'pos_embed', 'cls_token')):
        return 0
    m = re.match(r'layers\.(\d+)\.', name)
    if m:
        return int(m.group(1)) + 1
    return num_layers + 1


def no_weight_decay(name: str, param: nn.Parameter,
                    extra: tuple = ()) -> bool:
    leaf = name.rsplit('.', 1)[-1]
    return (param.ndim <= 1 or name.endswith('.bias')
            or leaf in NO_DECAY_NAMES + tuple(extra))


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SemAIMLayerDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """Layer-wise lr decay for ViT backbones (``SemAIMViTDet``).

    ``paramwise_cfg``: ``decay_rate`` (0.7 for ViT-B in ViTDet),
    ``num_layers`` (default: ``model.backbone.num_layers``),
    ``no_decay_names`` (extra parameter leaf names without weight decay).
    """

    def add_params(self, params: List[dict], module: nn.Module,
                   **kwargs) -> None:
        cfg = self.paramwise_cfg
        decay_rate = cfg.get('decay_rate', 0.7)
        num_layers = cfg.get('num_layers')
        if num_layers is None:
            backbone = getattr(module, 'backbone', module)
            num_layers = getattr(backbone, 'num_layers', None)
            if num_layers is None:
                raise ValueError(
                    'set paramwise_cfg.num_layers: the model has no '
                    'backbone.num_layers')
        prefix = 'backbone.' if hasattr(module, 'backbone') else ''
        extra = tuple(cfg.get('no_decay_names', ()))
        groups = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            lid = layer_id(name, num_layers, prefix)
            no_wd = no_weight_decay(name, param, extra)
            key = f'layer_{lid}_{"no_decay" if no_wd else "decay"}'
            if key not in groups:
                scale = decay_rate**(num_layers + 1 - lid)
                groups[key] = dict(
                    params=[], param_names=[], lr_scale=scale,
                    group_name=key, lr=self.base_lr * scale,
                    weight_decay=0. if no_wd else self.base_wd)
            groups[key]['params'].append(param)
            groups[key]['param_names'].append(name)
        MMLogger.get_current_instance().debug(
            'layer decay groups: ' + ', '.join(
                f'{k} (lr x{v["lr_scale"]:.4g}, {len(v["params"])} params)'
                for k, v in groups.items()))
        for key in sorted(groups, key=lambda k: (int(k.split('_')[1]), k)):
            group = groups[key]
            group.pop('param_names')
            params.append(group)
