"""Layer-wise learning-rate decay for SemAIM ViT backbones, shared by the
mmdet and mmseg models (each registers :class:`LayerDecayConstructor` in its
own ``OPTIM_WRAPPER_CONSTRUCTORS``; this module imports neither).

mmdet 3.3.0's ``LearningRateDecayOptimizerConstructor`` only knows ConvNeXt,
and mmseg 1.2.2's accept only backbones named BEiT/MAE/ConvNeXt (and give the
CLS token weight decay), so they cannot serve this backbone.

Layer ids (BEiT / MAE / ViTDet convention), with ``L`` backbone blocks:
``backbone.patch_embed``, ``backbone.pos_embed``, ``backbone.cls_token`` -> 0;
``backbone.layers.i`` -> ``i + 1``; everything else (final norms, pyramid,
neck, heads) -> ``L + 1``. A parameter's lr is
``base_lr * decay_rate ** (L + 1 - layer_id)``. No weight decay for 1-D
parameters (norms), biases, ``pos_embed``, ``cls_token``, relative position
tables (``rel_pos_h`` / ``rel_pos_w``) and names containing any of
``paramwise_cfg['no_decay_names']``.

``paramwise_cfg`` keys: ``decay_rate`` (alias ``layer_decay_rate``),
``num_layers`` (default: ``model.backbone.num_layers``), ``no_decay_names``.
"""
import re
from typing import List, Optional

from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn

NO_DECAY_LEAVES = ('pos_embed', 'cls_token', 'rel_pos_h', 'rel_pos_w')


def layer_id(name: str, num_layers: int, prefix: str = 'backbone.') -> int:
    """Layer id of a parameter (see the module docstring)."""
    if not name.startswith(prefix):
        return num_layers + 1
    name = name[len(prefix):]
    if name.startswith(('patch_embed', 'pos_embed', 'cls_token')):
        return 0
    m = re.match(r'layers\.(\d+)\.', name)
    return int(m.group(1)) + 1 if m else num_layers + 1


def no_weight_decay(name: str, param: nn.Parameter,
                    extra: tuple = ()) -> bool:
    return (param.ndim <= 1 or name.endswith('.bias')
            or name.rsplit('.', 1)[-1] in NO_DECAY_LEAVES
            or any(n in name for n in extra))


class LayerDecayConstructor(DefaultOptimWrapperConstructor):
    """One parameter group per (layer id, weight decay or not); each group
    lists its ``param_names`` (readable lr tables, tests)."""

    #: used when ``paramwise_cfg`` names no decay rate; None: required.
    default_decay_rate: Optional[float] = None

    def add_params(self, params: List[dict], module: nn.Module,
                   **kwargs) -> None:
        cfg = dict(self.paramwise_cfg or {})
        rate = cfg.get('decay_rate',
                       cfg.get('layer_decay_rate', self.default_decay_rate))
        if rate is None:
            raise KeyError('paramwise_cfg needs decay_rate (layer decay, '
                           'e.g. 0.65)')
        num_layers = cfg.get('num_layers')
        if num_layers is None:
            backbone = getattr(module, 'backbone', module)
            num_layers = getattr(backbone, 'num_layers', None)
            if num_layers is None:
                raise ValueError('set paramwise_cfg.num_layers: the model '
                                 'has no backbone.num_layers')
        prefix = 'backbone.' if hasattr(module, 'backbone') else ''
        extra = tuple(cfg.get('no_decay_names', ()))
        groups = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue  # e.g. the fixed sin-cos pos_embed
            lid = layer_id(name, num_layers, prefix)
            no_wd = no_weight_decay(name, param, extra)
            key = (lid, 'no_decay' if no_wd else 'decay')
            if key not in groups:
                scale = rate**(num_layers + 1 - lid)
                groups[key] = dict(
                    params=[], param_names=[], lr_scale=scale,
                    group_name=f'layer_{lid}_{key[1]}',
                    lr=self.base_lr * scale,
                    weight_decay=0. if no_wd else self.base_wd)
            groups[key]['params'].append(param)
            groups[key]['param_names'].append(name)
        MMLogger.get_current_instance().debug(
            'layer decay groups: ' + ', '.join(
                f'{g["group_name"]} (lr x{g["lr_scale"]:.4g}, '
                f'{len(g["params"])} params)' for g in groups.values()))
        params.extend(groups[k] for k in sorted(groups))
