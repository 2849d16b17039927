"""Every checkpoint key mapping of the project, in both directions.

Formats:

* ``semaim``: this project's pre-training checkpoint (mmengine; keys
  ``backbone.*``, ``neck.*``, ``head.*``). ``backbone.*`` uses mmpretrain's
  ``VisionTransformer`` names, so ``init_cfg=dict(type='Pretrained',
  checkpoint=CKPT, prefix='backbone.')`` loads it into a classifier directly.
* ``reference``: the authors' code (timm names: ``blocks.N.norm1``,
  ``blocks.N.attn.qkv``, ``blocks.N.mlp.fc1``, ``norm``, ``query_blocks.N.*``,
  ``prediction_head.*``), stored under ``'model'``.
* ``backbone``: encoder only, mmpretrain names without prefix, for mmdet /
  mmseg backbones and ``VisionTransformer``.

Documented differences:

* The reference code has one final ``norm``, applied both to the encoder's
  output (similarity pass, fine-tuning) and to the decoder's output before the
  prediction MLP. Here these are two norms, ``backbone.ln1`` and
  ``head.norm``. reference -> semaim copies ``norm`` into both (so the
  converted model computes exactly what the reference computed);
  semaim -> reference writes ``head.norm`` as ``norm`` (the reference trains
  ``norm`` through the decoder only), so ``backbone.ln1`` is not carried over.
* ``VisionTransformer(out_type='avg_featmap')`` (fine-tuning with global
  average pooling) has an extra ``ln2`` that a pre-training checkpoint lacks:
  it is the one expected missing key; with ``final_norm=False`` the
  checkpoint's ``ln1`` is unused.
"""
import argparse
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor

StateDict = Dict[str, Tensor]

# timm / reference block names -> mmpretrain names (inside one block).
TIMM_TO_MM_BLOCK = (
    ('norm1.', 'ln1.'),
    ('attn.qkv.', 'attn.qkv.'),
    ('attn.proj.', 'attn.proj.'),
    ('norm2.', 'ln2.'),
    ('mlp.fc1.', 'ffn.layers.0.0.'),
    ('mlp.fc2.', 'ffn.layers.1.'),
)
# Decoder blocks: separate q/k/v projections, otherwise the same names.
TIMM_TO_MM_DECODER_BLOCK = (
    ('norm1.', 'ln1.'),
    ('attn.q.', 'attn.q.'),
    ('attn.k.', 'attn.k.'),
    ('attn.v.', 'attn.v.'),
    ('attn.proj.', 'attn.proj.'),
    ('norm2.', 'ln2.'),
    ('mlp.fc1.', 'ffn.layers.0.0.'),
    ('mlp.fc2.', 'ffn.layers.1.'),
)
TIMM_TO_MM_STEM = (
    ('cls_token', 'cls_token'),
    ('pos_embed', 'pos_embed'),
    ('patch_embed.proj.', 'patch_embed.projection.'),
)


def _rename(key: str, table: Sequence[Tuple[str, str]],
            reverse: bool = False) -> Optional[str]:
    for src, dst in table:
        if reverse:
            src, dst = dst, src
        if key.startswith(src):
            return dst + key[len(src):]
    return None


def _map_blocks(sd: StateDict, src_prefix: str, dst_prefix: str,
                table: Sequence[Tuple[str, str]],
                reverse: bool = False) -> StateDict:
    """Map ``{src_prefix}N.<name>`` to ``{dst_prefix}N.<mapped name>``."""
    out = OrderedDict()
    pattern = re.compile(re.escape(src_prefix) + r'(\d+)\.(.*)$')
    for key, value in sd.items():
        m = pattern.match(key)
        if not m:
            continue
        name = _rename(m.group(2), table, reverse)
        if name is None:
            raise KeyError(f'unexpected key {key!r} in a transformer block')
        out[f'{dst_prefix}{m.group(1)}.{name}'] = value
    return out


def timm_vit_to_mm(sd: StateDict, blocks: str = 'blocks.',
                   norm: Optional[str] = 'norm.') -> StateDict:
    """timm ViT encoder keys -> mmpretrain ``VisionTransformer`` keys."""
    out = OrderedDict()
    for key, value in sd.items():
        name = _rename(key, TIMM_TO_MM_STEM)
        if name is not None:
            out[name] = value
        elif norm and key.startswith(norm):
            out['ln1.' + key[len(norm):]] = value
    out.update(_map_blocks(sd, blocks, 'layers.', TIMM_TO_MM_BLOCK))
    return out


def mm_vit_to_timm(sd: StateDict) -> StateDict:
    """mmpretrain ``VisionTransformer`` keys -> timm ViT encoder keys."""
    out = OrderedDict()
    for key, value in sd.items():
        name = _rename(key, TIMM_TO_MM_STEM, reverse=True)
        if name is not None:
            out[name] = value
        elif key.startswith('ln1.'):
            out['norm.' + key[4:]] = value
    out.update(_map_blocks(sd, 'layers.', 'blocks.', TIMM_TO_MM_BLOCK,
                           reverse=True))
    return out


def reference_to_semaim(sd: StateDict) -> StateDict:
    """The authors' pre-training state dict -> :class:`SemAIM` state dict."""
    unknown = [
        k for k in sd if not re.match(
            r'(cls_token|pos_embed|patch_embed\.|blocks\.|query_blocks\.|'
            r'norm\.|prediction_head\.)', k)
    ]
    if unknown:
        raise KeyError(f'not a SemAIM reference checkpoint: unexpected keys '
                       f'{unknown[:5]}')
    out = OrderedDict(
        ('backbone.' + k, v)
        for k, v in timm_vit_to_mm(sd, 'blocks.', 'norm.').items())
    for k, v in _map_blocks(sd, 'query_blocks.', 'neck.blocks.',
                            TIMM_TO_MM_DECODER_BLOCK).items():
        out[k] = v
    for key, value in sd.items():
        if key.startswith('norm.'):
            out['head.norm.' + key[5:]] = value.clone()
        elif key.startswith('prediction_head.'):
            out['head.mlp.' + key[len('prediction_head.'):]] = value
    return out


def semaim_to_reference(sd: StateDict) -> StateDict:
    """:class:`SemAIM` state dict -> the authors' key layout (see module
    docstring: ``backbone.ln1`` has no place there)."""
    backbone = {k[9:]: v for k, v in sd.items() if k.startswith('backbone.')}
    out = OrderedDict(
        (k, v) for k, v in mm_vit_to_timm(backbone).items()
        if not k.startswith('norm.'))
    neck = {k[5:]: v for k, v in sd.items() if k.startswith('neck.')}
    out.update(
        _map_blocks(neck, 'blocks.', 'query_blocks.',
                    TIMM_TO_MM_DECODER_BLOCK, reverse=True))
    for key, value in sd.items():
        if key.startswith('head.norm.'):
            out['norm.' + key[10:]] = value
        elif key.startswith('head.mlp.'):
            out['prediction_head.' + key[9:]] = value
    return out


def detect_format(sd: StateDict) -> str:
    """Name the kind of a state dict: ``semaim``, ``reference``, ``backbone``,
    ``timm-vit``, ``detector``, ``segmentor``, ``classifier`` or
    ``unknown``."""
    keys = list(sd)

    def has(prefix):
        return any(k.startswith(prefix) for k in keys)

    if has('backbone.') and (has('roi_head.') or has('rpn_head.')):
        return 'detector'
    if has('backbone.') and has('decode_head.'):
        return 'segmentor'
    if has('backbone.layers.') and has('neck.blocks.'):
        return 'semaim'
    if has('backbone.') and (has('head.fc') or has('head.layers')):
        return 'classifier'
    if has('blocks.') and has('query_blocks.'):
        return 'reference'
    if has('blocks.') and has('patch_embed.proj.'):
        return 'timm-vit'
    if has('layers.') and has('patch_embed.projection.'):
        return 'backbone'
    return 'unknown'


def load_state_dict(path: str, trusted: bool = False) -> StateDict:
    """Read a state dict from an mmengine (``state_dict``), reference
    (``model``) or plain checkpoint, without executing code unless
    ``trusted``."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path!r} does not exist')
    # The reference code saves its argparse.Namespace; it is a plain record.
    with torch.serialization.safe_globals([argparse.Namespace]):
        ckpt = torch.load(path, map_location='cpu', weights_only=not trusted)
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path!r} does not hold a state dict')
    for key in ('state_dict', 'model', 'module'):
        if isinstance(ckpt.get(key), dict):
            return ckpt[key]
    return ckpt


def resize_pos_embed(pos_embed: Tensor, new_grid: Tuple[int, int],
                     num_extra_tokens: int = 1,
                     mode: str = 'bicubic') -> Tensor:
    """(1, extra + h*w, C) -> (1, extra + H*W, C) by interpolation; the old
    grid is taken as square (pre-training grids are)."""
    from mmpretrain.models.utils import resize_pos_embed as mm_resize
    n = pos_embed.shape[1] - num_extra_tokens
    side = int(round(n**0.5))
    if side * side != n:
        raise ValueError(f'position embedding of {n} patches is not a square '
                         'grid; pass the source grid explicitly')
    return mm_resize(pos_embed, (side, side), tuple(new_grid), mode,
                     num_extra_tokens)


def semaim_to_backbone(sd: StateDict,
                       new_grid: Optional[Tuple[int, int]] = None
                       ) -> StateDict:
    """Encoder-only state dict (mmpretrain names, no prefix) from a SemAIM
    or reference checkpoint, with the position embedding optionally
    interpolated to ``new_grid`` (patches)."""
    kind = detect_format(sd)
    if kind == 'reference':
        sd = reference_to_semaim(sd)
    elif kind not in ('semaim', 'classifier'):
        raise ValueError(
            f'expected a SemAIM pre-training checkpoint, got a {kind!r} one: '
            'pass the checkpoint written by tools/train.py with a '
            'configs/pretrain config (or the authors\' checkpoint)')
    out = OrderedDict(
        (k[len('backbone.'):], v) for k, v in sd.items()
        if k.startswith('backbone.'))
    if new_grid is not None:
        out['pos_embed'] = resize_pos_embed(out['pos_embed'], new_grid)
    return out


# ---------------------------------------------------------------------------
# Frozen teachers (DINO / CLIP) for feature targets, see docs/teachers.md.
# The teacher network is timm's ``VisionTransformer`` (timm key names) plus,
# for CLIP, a separate ``proj`` matrix (width, out_dims) applied as
# ``tokens @ proj`` exactly like OpenAI's ``VisionTransformer.proj``.
# ---------------------------------------------------------------------------

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

# OpenAI / open_clip visual tower names -> timm names (after stripping the
# ``visual.`` prefix); ``proj``, ``class_embedding`` and
# ``positional_embedding`` are reshaped in :func:`openai_clip_to_teacher`.
OPENAI_CLIP_TO_TIMM_BLOCK = (
    ('ln_1.', 'norm1.'),
    ('attn.in_proj_weight', 'attn.qkv.weight'),
    ('attn.in_proj_bias', 'attn.qkv.bias'),
    ('attn.out_proj.', 'attn.proj.'),
    ('ln_2.', 'norm2.'),
    ('mlp.c_fc.', 'mlp.fc1.'),
    ('mlp.c_proj.', 'mlp.fc2.'),
)

# TorchScript storage class names -> dtypes (what ``torch.jit.save`` writes).
_JIT_STORAGE_DTYPES = {
    'FloatStorage': torch.float32, 'HalfStorage': torch.float16,
    'BFloat16Storage': torch.bfloat16, 'DoubleStorage': torch.float64,
    'LongStorage': torch.int64, 'IntStorage': torch.int32,
    'ShortStorage': torch.int16, 'CharStorage': torch.int8,
    'ByteStorage': torch.uint8, 'BoolStorage': torch.bool,
}



def load_backbone_state_dict(path: str,
                             prefix: Optional[str] = None
                             ) -> Tuple[StateDict, str]:
    """Encoder weights (``backbone`` format, mmpretrain names) from any
    checkpoint that holds a SemAIM encoder: this project's pre-training, the
    reference code's, a bare backbone, a classifier, a timm ViT, or (with
    ``prefix``, e.g. ``'backbone.'``) a detector / segmentor. Returns the
    state dict and the detected source format."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'backbone checkpoint {path!r} does not exist: pre-train first '
            '(tools/train.py configs/pretrain/...), convert one '
            '(tools/model_converters/), or train from scratch with '
            '--cfg-options model.backbone.init_cfg=None')
    sd = load_state_dict(path)
    kind = detect_format(sd)
    if prefix and kind not in ('semaim', 'reference'):
        stripped = {k[len(prefix):]: v for k, v in sd.items()
                    if k.startswith(prefix)}
        if not stripped:
            raise KeyError(f'{path}: no key starts with prefix {prefix!r}')
        sd, kind = stripped, detect_format(stripped)
    if kind in ('semaim', 'reference', 'classifier'):
        return semaim_to_backbone(sd), kind
    if kind == 'timm-vit':
        return timm_vit_to_mm(sd), kind
    if kind == 'backbone':
        return dict(sd), kind
    raise ValueError(
        f'{path}: a {kind!r} checkpoint cannot initialise the SemAIM '
        'backbone; give a SemAIM pre-training, reference, backbone or timm '
        "ViT checkpoint (or prefix='backbone.' for a detector / segmentor)")

def _strip_prefix(sd: StateDict, prefix: str) -> StateDict:
    if sd and all(k.startswith(prefix) for k in sd):
        return OrderedDict((k[len(prefix):], v) for k, v in sd.items())
    return sd


def is_torchscript_archive(path: str) -> bool:
    """True for a ``torch.jit.save`` zip (it has ``<root>/code/`` files)."""
    import zipfile
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any('/code/' in n for n in zf.namelist())


def read_torchscript_state_dict(path: str) -> StateDict:
    """``torch.jit.load(path).state_dict()`` without running any code.

    A TorchScript archive is a zip: ``data.pkl`` pickles the module tree
    (objects of ``__torch__.*`` classes whose attributes are tensors,
    sub-modules and plain values), ``data/<key>`` hold the raw tensor
    storages and ``code/`` the TorchScript source, where each class declares
    its ``__parameters__`` and ``__buffers__``. We unpickle ``data.pkl`` with
    an allow-list (tensor rebuild, storage types, ``OrderedDict``, TorchScript
    list/type helpers; every ``__torch__`` class becomes an inert record), read
    the storages ourselves and take the parameter / buffer names from the
    ``code/`` declarations by text matching. Nothing from the archive is
    imported, compiled or executed (``torch.jit.load`` compiles the archive's
    code, OpenAI's ``clip.load`` and open_clip both call it).
    """
    import pickle
    import zipfile

    zf = zipfile.ZipFile(path)
    names = zf.namelist()
    data_pkl = [n for n in names if n.endswith('/data.pkl')
                and n.count('/') == 1]
    if not data_pkl:
        raise ValueError(f'{path!r} is not a TorchScript archive (no data.pkl)')
    root = data_pkl[0].split('/')[0]
    byteorder = f'{root}/byteorder'
    if byteorder in names and zf.read(byteorder).strip() != b'little':
        raise ValueError(f'{path!r}: big-endian TorchScript archives are not '
                         'supported')

    # class qualname -> (parameters, buffers), from the code/ declarations.
    declared: Dict[str, Tuple[list, list]] = {}
    class_re = re.compile(r'^class (\w+)\(Module\):\n((?:  .*\n|\n)*)', re.M)
    list_re = r'^  {}\s*=\s*\[(.*?)\]'
    for name in names:
        if not (name.startswith(f'{root}/code/') and name.endswith('.py')):
            continue
        module = name[len(f'{root}/code/'):-3].replace('/', '.')
        text = zf.read(name).decode('utf-8', 'replace')
        for m in class_re.finditer(text):
            body = m.group(2)
            lists = []
            for field in ('__parameters__', '__buffers__'):
                f = re.search(list_re.format(field), body, re.M)
                lists.append(re.findall(r'"([^"]+)"', f.group(1)) if f else
                             None)
            declared[f'{module}.{m.group(1)}'] = tuple(lists)

    class _Record:
        """Stand-in for a TorchScript class instance: only holds state."""
        qualname = ''

        def __setstate__(self, state):
            if isinstance(state, dict):
                self.__dict__.update(state)
            else:
                self.__dict__['_state'] = state

    records: Dict[str, type] = {}

    def rebuild_tensor(storage, offset, size, stride, requires_grad=False,
                       hooks=None, metadata=None):
        return storage.as_strided(size, stride, offset).clone()

    def identity(x, *args):
        return x

    allowed = {
        ('torch._utils', '_rebuild_tensor_v2'): rebuild_tensor,
        ('collections', 'OrderedDict'): OrderedDict,
        ('torch.jit._pickle', 'build_intlist'): identity,
        ('torch.jit._pickle', 'build_tensorlist'): identity,
        ('torch.jit._pickle', 'build_doublelist'): identity,
        ('torch.jit._pickle', 'build_boollist'): identity,
        ('torch.jit._pickle', 'build_genericlist'): identity,
        ('torch.jit._pickle', 'restore_type_tag'): identity,
    }
    storages: Dict[str, Tensor] = {}

    class _Unpickler(pickle.Unpickler):

        def find_class(self, module, name):
            if (module, name) in allowed:
                return allowed[module, name]
            if module == 'torch' and name in _JIT_STORAGE_DTYPES:
                return _JIT_STORAGE_DTYPES[name]
            if module == '__torch__' or module.startswith('__torch__.'):
                qual = f'{module}.{name}'
                if qual not in records:
                    records[qual] = type(name, (_Record, ),
                                         dict(qualname=qual))
                return records[qual]
            raise pickle.UnpicklingError(
                f'{path!r}: TorchScript archive refers to {module}.{name}, '
                'which a weights-only reader does not allow')

        def persistent_load(self, pid):
            if not (isinstance(pid, tuple) and pid and pid[0] == 'storage'):
                raise pickle.UnpicklingError(f'unsupported persistent id '
                                             f'{pid!r} in {path!r}')
            dtype, key = pid[1], str(pid[2])
            if key not in storages:
                raw = bytearray(zf.read(f'{root}/data/{key}'))
                storages[key] = (torch.frombuffer(raw, dtype=dtype) if raw
                                 else torch.empty(0, dtype=dtype))
            return storages[key]

    with zf.open(data_pkl[0]) as f:
        top = _Unpickler(f).load()
    if not isinstance(top, _Record):
        raise ValueError(f'{path!r}: data.pkl does not hold a module')

    out: StateDict = OrderedDict()

    def walk(rec, prefix):
        params, buffers = declared.get(rec.qualname, (None, None))
        state = rec.__dict__
        if params is None:  # undeclared class: every tensor attribute
            tensor_names = [k for k, v in state.items()
                            if isinstance(v, Tensor)]
        else:
            tensor_names = list(params) + list(buffers or [])
        for k in tensor_names:
            if isinstance(state.get(k), Tensor):
                out[prefix + k] = state[k]
        for k, v in state.items():
            if isinstance(v, _Record):
                walk(v, f'{prefix}{k}.')

    walk(top, '')
    return out


def read_teacher_file(path: str, trusted: bool = False) -> StateDict:
    """Tensors of a teacher checkpoint: ``.safetensors``, a TorchScript
    archive (read without executing code, see
    :func:`read_torchscript_state_dict`; ``trusted=True`` uses
    ``torch.jit.load`` instead) or a ``torch.save`` file (``weights_only``;
    the tensor dict is taken from ``state_dict`` / ``model`` / ``teacher`` /
    ``module`` entries when present)."""
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
    ``openai-clip`` (OpenAI / open_clip visual tower) or ``unknown``."""
    keys = set(sd)
    if any(k.startswith('transformer.resblocks.') for k in keys) and \
            'conv1.weight' in keys:
        return 'openai-clip'
    if 'patch_embed.proj.weight' in keys and any(
            k.startswith('blocks.') for k in keys):
        return 'timm-clip' if 'norm_pre.weight' in keys else 'timm-vit'
    return 'unknown'


def _clean_teacher_keys(sd: StateDict) -> StateDict:
    """Strip DDP / wrapper prefixes (``module.``, DINO's ``backbone.``),
    keep the visual tower of a full CLIP model (``visual.``)."""
    sd = _strip_prefix(sd, 'module.')
    if any(k.startswith('visual.') for k in sd):
        sd = OrderedDict((k[7:], v) for k, v in sd.items()
                         if k.startswith('visual.'))
    if any(k.startswith('backbone.') for k in sd):  # DINO training ckpt
        sd = OrderedDict((k[9:], v) for k, v in sd.items()
                         if k.startswith('backbone.'))
    return sd


def openai_clip_to_teacher(sd: StateDict) -> StateDict:
    """OpenAI / open_clip visual tower (``visual.`` stripped) -> teacher keys
    (timm ``VisionTransformer`` with ``pre_norm`` + ``proj``)."""
    out = OrderedDict()
    for key, value in sd.items():
        if key == 'conv1.weight':
            out['patch_embed.proj.weight'] = value
        elif key == 'class_embedding':
            out['cls_token'] = value.reshape(1, 1, -1)
        elif key == 'positional_embedding':
            out['pos_embed'] = value.unsqueeze(0)
        elif key.startswith('ln_pre.'):
            out['norm_pre.' + key[7:]] = value
        elif key.startswith('ln_post.'):
            out['norm.' + key[8:]] = value
        elif key == 'proj':
            out['proj'] = value
    out.update(_map_blocks(sd, 'transformer.resblocks.', 'blocks.',
                           OPENAI_CLIP_TO_TIMM_BLOCK))
    return out


def teacher_to_openai_clip(sd: StateDict) -> StateDict:
    """Inverse of :func:`openai_clip_to_teacher` (``visual.`` not added)."""
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
    out.update(_map_blocks(sd, 'blocks.', 'transformer.resblocks.',
                           OPENAI_CLIP_TO_TIMM_BLOCK, reverse=True))
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
    expected = TEACHER_FORMATS[kind]
    if kind == 'dino' and found == 'timm-vit':
        sd = OrderedDict((k, v) for k, v in sd.items()
                         if not k.startswith(('head.', 'fc_norm.')))
    elif kind == 'clip' and found == 'openai-clip':
        sd = openai_clip_to_teacher(sd)
    elif kind == 'clip' and found == 'timm-clip':
        sd = OrderedDict(sd)
        head = sd.pop('head.weight', None)
        bias = sd.pop('head.bias', None)
        if head is None:
            raise ValueError(f'{path!r}: timm CLIP checkpoint without the '
                             'projection (head.weight); expected ' + expected)
        if bias is not None and bias.abs().max() > 0:
            raise ValueError(f'{path!r}: head.bias is not zero, this is a '
                             'classifier, not the CLIP projection')
        sd['proj'] = head.t()
    else:
        sample = ', '.join(list(sd)[:4])
        raise ValueError(
            f'{path!r} is not a {kind.upper()} teacher checkpoint (found '
            f'{found!r} layout, keys like {sample}). Expected {expected}.')
    return OrderedDict((k, v.float().contiguous()) for k, v in sd.items())
