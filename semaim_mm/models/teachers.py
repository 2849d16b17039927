"""Frozen DINO / CLIP teachers: feature prediction targets and the order's
similarity map (SemAIM section 3, the paper's 85.3% setting).

The teacher network is timm's ``VisionTransformer`` for both kinds:

* DINO ViT-B/16: timm's ViT is the network DINO's released weights use
  (identical names and maths; timm ships them as ``vit_base_patch16_224.dino``).
  Targets are all output tokens after the final norm (768-d).
* CLIP ViT-B/16 image tower: timm's ViT with ``pre_norm`` (``ln_pre``),
  LayerNorm eps 1e-5, QuickGELU and no patch-embedding bias is OpenAI's
  ``VisionTransformer``; the projection is kept as OpenAI's ``proj`` matrix.
  Targets are the tokens after ``ln_post`` and ``@ proj`` (512-d). timm was
  chosen over mmpretrain's CLIP tower and ``open_clip`` because it is one code
  path for both teachers, uses fused SDPA attention (fastest under autocast),
  interpolates its position embedding for other input sizes, and is already a
  dependency (``open_clip`` is not). The tests check it against OpenAI's
  reference module, mmpretrain's ``build_clip_model`` and ``open_clip``.

The teacher is deliberately *not* a registered sub-module: it is invisible to
``parameters()`` / ``state_dict()`` (so to the optimizer, checkpoints, DDP's
unused-parameter search, ``model.train()`` and ``init_weights``). It moves to
the input's device on first use. Checkpoints store a SHA-256 digest of the
teacher weights (buffer ``teacher_digest``); loading a checkpoint made with a
different teacher is an error, so a resumed run provably uses the same
teacher. The weights are re-read from ``checkpoint`` (the config's path).
"""
import hashlib
import weakref
from functools import partial
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor, nn

from ..checkpoints.teachers import TEACHER_FORMATS, load_teacher_state_dict
from ..utils import check_choice
from .orders import similarity_map

# Published teacher architectures (width, depth, heads, output dims).
TEACHER_ARCHS: Dict[str, Dict[str, dict]] = {
    'dino': {
        'deit-small': dict(embed_dims=384, num_layers=12, num_heads=6),
        'base': dict(embed_dims=768, num_layers=12, num_heads=12),
    },
    'clip': {
        'base': dict(embed_dims=768, num_layers=12, num_heads=12,
                     out_dims=512),
        'large': dict(embed_dims=1024, num_layers=24, num_heads=16,
                      out_dims=768),
    },
}


class TeacherViT(nn.Module):
    """timm ViT returning every token after the final norm (and, for CLIP,
    after ``@ proj``): (B, 1 + N, D)."""

    def __init__(self, kind: str, embed_dims: int, num_layers: int,
                 num_heads: int, patch_size: int, img_size: int,
                 out_dims: Optional[int] = None) -> None:
        super().__init__()
        from timm.models.vision_transformer import VisionTransformer
        common = dict(
            img_size=img_size, patch_size=patch_size, embed_dim=embed_dims,
            depth=num_layers, num_heads=num_heads, mlp_ratio=4.,
            qkv_bias=True, num_classes=0, global_pool='', class_token=True,
            dynamic_img_size=True)
        if kind == 'clip':
            self.vit = VisionTransformer(
                pre_norm=True, norm_layer=partial(nn.LayerNorm, eps=1e-5),
                act_layer='quick_gelu', **common)
            self.proj = nn.Parameter(torch.zeros(embed_dims, out_dims))
        else:
            self.vit = VisionTransformer(
                norm_layer=partial(nn.LayerNorm, eps=1e-6), **common)
            self.proj = None
        self.patch_size = patch_size

    def forward(self, x: Tensor) -> Tensor:
        x = self.vit.forward_features(x)  # final norm applied (ln_post)
        if self.proj is not None:
            x = x @ self.proj.to(x.dtype)
        return x

    def load_teacher_state_dict(self, sd: Dict[str, Tensor]) -> None:
        own = {('proj' if k == 'proj' else 'vit.' + k): v
               for k, v in sd.items()}
        missing, unexpected = self.load_state_dict(own, strict=False)
        if missing or unexpected:
            raise ValueError(f'teacher checkpoint does not fit the teacher '
                             f'network: missing {missing[:5]}, unexpected '
                             f'{unexpected[:5]}')


def infer_teacher_arch(sd: Dict[str, Tensor]) -> dict:
    """Width, depth, patch, image size and output dims of a converted
    teacher state dict (heads are not stored: width // 64 by default, as in
    every published DINO / CLIP ViT)."""
    width = sd['cls_token'].shape[-1]
    depth = 1 + max(int(k.split('.')[1]) for k in sd
                    if k.startswith('blocks.'))
    patch = sd['patch_embed.proj.weight'].shape[-1]
    n = sd['pos_embed'].shape[1] - 1
    side = int(round(n**0.5))
    if side * side != n:
        raise ValueError(f'teacher position embedding of {n} patches is not '
                         'a square grid')
    arch = dict(embed_dims=width, num_layers=depth, num_heads=max(
        1, width // 64), patch_size=patch, img_size=side * patch)
    if 'proj' in sd:
        arch['out_dims'] = sd['proj'].shape[1]
    return arch


def weights_digest(sd: Dict[str, Tensor]) -> Tensor:
    """SHA-256 of the fp32 teacher weights (key order independent), as a
    (32,) uint8 tensor."""
    h = hashlib.sha256()
    for key in sorted(sd):
        h.update(key.encode())
        h.update(sd[key].detach().float().cpu().contiguous().numpy().tobytes())
    return torch.frombuffer(bytearray(h.digest()), dtype=torch.uint8).clone()


@MODELS.register_module()
class TeacherTargetGenerator(BaseModule):
    """Patch tokens of a frozen DINO or CLIP ViT as prediction targets.

    Interface of :class:`RGBTargetGenerator`: ``target_dim`` and
    ``forward(imgs) -> (B, N, D)`` in raster order on the *student's* patch
    grid. Also ``similarity(imgs) -> (B, N)`` (softmax over the patches of
    the cosine of the teacher's CLS vs each patch token) for
    ``SemAIM(similarity_source='teacher')``. Both share one teacher pass per
    batch (cached on the input tensor).

    Args:
        kind: ``'dino'`` or ``'clip'``.
        checkpoint: path of the teacher weights (required; formats in
            :data:`semaim_mm.checkpoints.teachers.TEACHER_FORMATS`).
        arch: ``'base'`` / ``'deit-small'`` (DINO's ViT-S) / ``'large'``
            (CLIP), a dict (``embed_dims``, ``num_layers``, ``num_heads``,
            optional ``patch_size``, ``out_dims``) checked against the
            checkpoint, or
            None to take everything from the checkpoint.
        student_patch_size: the student's patch size; :class:`SemAIM` fills
            it from its backbone. The targets are on the grid
            ``H // student_patch_size``.
        grid_mismatch: ``'interpolate'`` (bilinear resize of the teacher's
            token grid to the student's) or ``'error'``.
        trusted: read TorchScript archives with ``torch.jit.load`` instead
            of the code-free reader.
        check_digest: refuse to load a checkpoint whose ``teacher_digest``
            differs from the teacher read from ``checkpoint``.
    """

    def __init__(self,
                 kind: str,
                 checkpoint: Optional[str] = None,
                 arch: Union[str, dict, None] = 'base',
                 student_patch_size: Optional[int] = None,
                 grid_mismatch: str = 'interpolate',
                 trusted: bool = False,
                 check_digest: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if kind not in TEACHER_ARCHS:
            raise ValueError(f'teacher kind must be one of '
                             f'{list(TEACHER_ARCHS)}, got {kind!r}')
        if not checkpoint:
            raise ValueError(
                f'{kind.upper()} teacher needs `checkpoint`: the path of '
                f'{TEACHER_FORMATS[kind]} (see docs/teachers.md); a random '
                'teacher is never used')
        check_choice('grid_mismatch', grid_mismatch, ('interpolate', 'error'))
        self.kind = kind
        self.checkpoint = checkpoint
        self.student_patch_size = student_patch_size
        self.grid_mismatch = grid_mismatch
        self.check_digest = check_digest

        sd = load_teacher_state_dict(checkpoint, kind, trusted=trusted)
        found = infer_teacher_arch(sd)
        if kind == 'clip' and 'out_dims' not in found:
            raise ValueError(f'{checkpoint!r}: CLIP checkpoint without the '
                             'projection `proj`')
        want = self._resolve_arch(kind, arch)
        for key, value in want.items():
            if key == 'num_heads':
                found[key] = value
            elif found.get(key) != value:
                raise ValueError(
                    f'{kind.upper()} teacher checkpoint {checkpoint!r} has '
                    f'{key}={found.get(key)}, the config expects {value} '
                    f'(arch={arch!r}): wrong model file? Expected '
                    f'{TEACHER_FORMATS[kind]}')
        net = TeacherViT(kind, **found)
        net.load_teacher_state_dict(sd)
        net.requires_grad_(False)
        net.eval()
        # Not registered: see the module docstring.
        object.__setattr__(self, '_teacher', net)
        self.arch = found
        self.target_dim = found.get('out_dims', found['embed_dims'])
        self.register_buffer('teacher_digest', weights_digest(sd))
        self._register_load_state_dict_pre_hook(self._check_digest_hook)
        self._cache: Optional[Tuple] = None
        super().train(False)
        print_log(f'{kind.upper()} teacher loaded from {checkpoint} '
                  f'({found})', logger='current')

    @staticmethod
    def _resolve_arch(kind: str, arch) -> dict:
        if arch is None:
            return {}
        if isinstance(arch, str):
            if arch not in TEACHER_ARCHS[kind]:
                raise ValueError(f'{kind} teacher arch must be one of '
                                 f'{list(TEACHER_ARCHS[kind])} or a dict, '
                                 f'got {arch!r}')
            return dict(TEACHER_ARCHS[kind][arch])
        return dict(arch)

    # ------------------------------------------------------------ frozen
    @property
    def teacher(self) -> TeacherViT:
        return self._teacher

    def train(self, mode: bool = True):
        """The teacher (and this module) stay in eval mode."""
        return super().train(False)

    def _check_digest_hook(self, state_dict, prefix, *args) -> None:
        key = prefix + 'teacher_digest'
        if key not in state_dict:
            state_dict[key] = self.teacher_digest.clone()
        elif self.check_digest and not torch.equal(
                state_dict[key].cpu(), self.teacher_digest.cpu()):
            raise ValueError(
                f'this checkpoint was trained with a different '
                f'{self.kind.upper()} teacher than the one in '
                f'{self.checkpoint!r} (weights digest differs); point '
                '`checkpoint` at the original teacher file or set '
                'check_digest=False')

    def extra_repr(self) -> str:
        return (f'kind={self.kind!r}, checkpoint={self.checkpoint!r}, '
                f'arch={self.arch}, frozen teacher (not in state_dict)')

    # ----------------------------------------------------------- compute
    def _grid(self, imgs: Tensor) -> Tuple[Tuple[int, int], Tuple[int, int]]:
        H, W = imgs.shape[-2:]
        tp = self.teacher.patch_size
        sp = self.student_patch_size or tp
        if H % tp or W % tp:
            raise ValueError(f'image {H}x{W} is not divisible by the teacher '
                             f'patch size {tp}')
        return (H // tp, W // tp), (H // sp, W // sp)

    def tokens(self, imgs: Tensor) -> Tensor:
        """All teacher tokens (B, 1 + N, D) on the student's grid (CLS
        first), in the autocast dtype; one teacher pass per input tensor."""
        key = (imgs._version, imgs.shape, torch.is_autocast_enabled(
            imgs.device.type), torch.get_autocast_dtype(imgs.device.type))
        if self._cache is not None:
            ref, cached_key, tokens = self._cache
            if ref() is imgs and cached_key == key:
                return tokens
        t_grid, s_grid = self._grid(imgs)
        net = self.teacher
        if net.vit.cls_token.device != imgs.device:
            net.to(imgs.device)
        net.eval()
        with torch.no_grad():  # not inference_mode: targets enter autograd
            tokens = net(imgs)
            if t_grid != s_grid:
                if self.grid_mismatch == 'error':
                    raise ValueError(
                        f'teacher patch grid {t_grid} differs from the '
                        f"student's {s_grid}; set grid_mismatch="
                        "'interpolate' to resize the teacher's tokens")
                B, _, D = tokens.shape
                grid = tokens[:, 1:].transpose(1, 2).reshape(B, D, *t_grid)
                grid = F.interpolate(grid.float(), size=s_grid,
                                     mode='bilinear', align_corners=False)
                tokens = torch.cat(
                    [tokens[:, :1],
                     grid.flatten(2).transpose(1, 2).to(tokens.dtype)], 1)
        self._cache = (weakref.ref(imgs), key, tokens)
        return tokens

    def forward(self, imgs: Tensor) -> Tensor:
        """(B, C, H, W) student-normalised images -> (B, N, D) patch tokens
        (raster order, the student's grid)."""
        return self.tokens(imgs)[:, 1:]

    def similarity(self, imgs: Tensor) -> Tensor:
        """(B, N) fp32 softmax of cos(teacher CLS, patch) over the
        student's grid (:func:`~semaim_mm.models.orders.similarity_map`)."""
        return similarity_map(self.tokens(imgs))


@MODELS.register_module()
class DINOTargetGenerator(TeacherTargetGenerator):
    """DINO ViT teacher (``dino_vitbase16_pretrain.pth``): 768-d tokens after
    the final norm. See :class:`TeacherTargetGenerator`."""

    def __init__(self, checkpoint: Optional[str] = None, **kwargs) -> None:
        super().__init__('dino', checkpoint, **kwargs)


@MODELS.register_module()
class CLIPTargetGenerator(TeacherTargetGenerator):
    """CLIP image tower teacher (OpenAI ``ViT-B-16.pt``): 512-d tokens after
    ``ln_post`` and the projection. See :class:`TeacherTargetGenerator`."""

    def __init__(self, checkpoint: Optional[str] = None, **kwargs) -> None:
        super().__init__('clip', checkpoint, **kwargs)
