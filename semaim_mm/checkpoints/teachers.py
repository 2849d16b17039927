"""Checkpoint formats of the frozen DINO / CLIP teachers (docs/teachers.md).

The teacher network is timm's ``VisionTransformer`` (timm key names) plus,
for CLIP, a separate ``proj`` matrix (width, out_dims) applied as
``tokens @ proj`` exactly like OpenAI's ``VisionTransformer.proj``. The
OpenAI / open_clip -> timm key mapping is timm's own
(``timm.models.vision_transformer.checkpoint_filter_fn``); this module reads
the files and picks the layout.
"""
import argparse
import os.path as osp
from collections import OrderedDict
from typing import Dict

import torch
from torch import Tensor

from .keys import map_blocks, strip_prefix, sub_dict
from .torchscript_reader import (is_torchscript_archive,
                                 read_torchscript_state_dict)

StateDict = Dict[str, Tensor]

TEACHER_FORMATS = {
    'dino': ("DINO's released backbone (dino_vitbase16_pretrain.pth: a plain "
             'state dict with timm-style keys cls_token, pos_embed, '
             'patch_embed.proj.*, blocks.N.*, norm.*), a DINO training '
             "checkpoint ('teacher' entry) or a timm ViT .safetensors/.pth"),
    'clip': ("OpenAI CLIP's TorchScript archive (ViT-B-16.pt), an OpenAI/"
             'open_clip state dict (visual.conv1.weight, visual.class_embedding'
             ', visual.transformer.resblocks.N.*, visual.ln_post.*, '
             "visual.proj; an open_clip training checkpoint's 'state_dict') "
             'or a timm CLIP ViT .safetensors/.pth (norm_pre.*, head.weight)'),
}

# Teacher (timm) block names -> OpenAI's, for writing OpenAI-layout files.
TIMM_TO_OPENAI_CLIP_BLOCK = (
    ('norm1.', 'ln_1.'),
    ('attn.qkv.weight', 'attn.in_proj_weight'),
    ('attn.qkv.bias', 'attn.in_proj_bias'),
    ('attn.proj.', 'attn.out_proj.'),
    ('norm2.', 'ln_2.'),
    ('mlp.fc1.', 'mlp.c_fc.'),
    ('mlp.fc2.', 'mlp.c_proj.'),
)


def read_teacher_file(path: str, trusted: bool = False) -> StateDict:
    """Tensors of a teacher checkpoint: ``.safetensors``, a TorchScript
    archive (read without executing code,
    :mod:`semaim_mm.checkpoints.torchscript_reader`; ``trusted=True``
    uses ``torch.jit.load`` instead) or a ``torch.save``
    file (``weights_only``; the tensor dict is taken from ``state_dict`` /
    ``model`` / ``teacher`` / ``module`` entries when present)."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'teacher checkpoint {path!r} does not exist: put the teacher '
            'weights there (see docs/teachers.md for the exact files)')
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        return OrderedDict(load_file(path, device='cpu'))
    if is_torchscript_archive(path):
        if trusted:
            return OrderedDict(
                torch.jit.load(path, map_location='cpu').state_dict())
        return read_torchscript_state_dict(path)
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # not a torch file, or needs unsafe globals
        raise ValueError(
            f'cannot read teacher checkpoint {path!r} as a weights-only '
            f'torch.save file, TorchScript archive or .safetensors: {e}'
        ) from e
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path!r} does not hold a state dict')
    for key in ('teacher', 'state_dict', 'model', 'module'):
        if isinstance(ckpt.get(key), dict):
            ckpt = ckpt[key]
            break
    return OrderedDict(
        (k, v) for k, v in ckpt.items() if isinstance(v, Tensor))


def teacher_checkpoint_kind(sd: StateDict) -> str:
    """``timm-vit`` (DINO / timm), ``timm-clip`` (timm's CLIP ViT),
    ``openai-clip`` (OpenAI / open_clip visual tower, ``visual.`` prefix) or
    ``unknown``."""
    keys = set(sd)
    if 'visual.class_embedding' in keys:
        return 'openai-clip'
    if 'patch_embed.proj.weight' in keys and any(
            k.startswith('blocks.') for k in keys):
        return 'timm-clip' if 'norm_pre.weight' in keys else 'timm-vit'
    return 'unknown'


def _clean_teacher_keys(sd: StateDict) -> StateDict:
    """Strip DDP / wrapper prefixes (``module.``, DINO's ``backbone.``) and
    give a bare OpenAI visual tower (``conv1.weight``, ...) its ``visual.``
    prefix."""
    sd = strip_prefix(sd, 'module.')
    if 'conv1.weight' in sd and 'class_embedding' in sd:
        return OrderedDict(('visual.' + k, v) for k, v in sd.items())
    if any(k.startswith('backbone.') for k in sd):  # DINO training ckpt
        return sub_dict(sd, 'backbone.')
    return sd


def openai_clip_to_timm(sd: StateDict) -> StateDict:
    """OpenAI / open_clip CLIP (``visual.*`` keys) -> timm's CLIP ViT keys,
    by timm's ``checkpoint_filter_fn``. It reads only the target model's
    patch / position-embedding shapes: a meta-device ViT of the checkpoint's
    own shapes means nothing is resampled."""
    from timm.models.vision_transformer import (VisionTransformer,
                                                checkpoint_filter_fn)
    width = sd['visual.class_embedding'].shape[-1]
    patch = sd['visual.conv1.weight'].shape[-1]
    side = int(round((sd['visual.positional_embedding'].shape[0] - 1)**0.5))
    with torch.device('meta'):
        shape_model = VisionTransformer(
            img_size=side * patch, patch_size=patch, embed_dim=width,
            depth=1, num_heads=1, pre_norm=True, class_token=True,
            num_classes=0)
    return OrderedDict(checkpoint_filter_fn(dict(sd), shape_model))


def _timm_clip_to_teacher(sd: StateDict, path: str) -> StateDict:
    """timm's CLIP head (``head.weight`` (out, width), zero bias) -> the
    teacher's ``proj`` (width, out)."""
    sd = OrderedDict(sd)
    head = sd.pop('head.weight', None)
    bias = sd.pop('head.bias', None)
    if head is None:
        raise ValueError(f'{path!r}: timm CLIP checkpoint without the '
                         'projection (head.weight); expected ' +
                         TEACHER_FORMATS['clip'])
    if bias is not None and bias.abs().max() > 0:
        raise ValueError(f'{path!r}: head.bias is not zero, this is a '
                         'classifier, not the CLIP projection')
    sd['proj'] = head.t()
    return sd


def teacher_to_openai_clip(sd: StateDict) -> StateDict:
    """Teacher keys (timm names + ``proj``) -> OpenAI's visual tower names
    (``visual.`` not added), to write OpenAI-layout test / benchmark files."""
    out = OrderedDict()
    for key, value in sd.items():
        if key == 'patch_embed.proj.weight':
            out['conv1.weight'] = value
        elif key == 'cls_token':
            out['class_embedding'] = value.reshape(-1)
        elif key == 'pos_embed':
            out['positional_embedding'] = value[0]
        elif key.startswith('norm_pre.'):
            out['ln_pre.' + key[9:]] = value
        elif key.startswith('norm.'):
            out['ln_post.' + key[5:]] = value
        elif key == 'proj':
            out['proj'] = value
    out.update(map_blocks(sd, 'blocks.', 'transformer.resblocks.',
                          TIMM_TO_OPENAI_CLIP_BLOCK))
    return out


def load_teacher_state_dict(path: str, kind: str,
                            trusted: bool = False) -> StateDict:
    """Read a DINO (``kind='dino'``) or CLIP (``kind='clip'``) teacher
    checkpoint in any supported layout (:data:`TEACHER_FORMATS`) and return
    fp32 tensors with teacher keys (timm names, plus ``proj`` for CLIP).
    Anything else is a ``ValueError`` naming the expected formats."""
    if kind not in TEACHER_FORMATS:
        raise ValueError(f'teacher kind must be one of {list(TEACHER_FORMATS)}'
                         f', got {kind!r}')
    sd = _clean_teacher_keys(read_teacher_file(path, trusted))
    found = teacher_checkpoint_kind(sd)
    if kind == 'dino' and found == 'timm-vit':
        sd = OrderedDict((k, v) for k, v in sd.items()
                         if not k.startswith(('head.', 'fc_norm.')))
    elif kind == 'clip' and found == 'openai-clip':
        sd = _timm_clip_to_teacher(openai_clip_to_timm(sd), path)
    elif kind == 'clip' and found == 'timm-clip':
        sd = _timm_clip_to_teacher(sd, path)
    else:
        sample = ', '.join(list(sd)[:4])
        raise ValueError(
            f'{path!r} is not a {kind.upper()} teacher checkpoint (found '
            f'{found!r} layout, keys like {sample}). Expected '
            f'{TEACHER_FORMATS[kind]}.')
    return OrderedDict((k, v.float().contiguous()) for k, v in sd.items())
