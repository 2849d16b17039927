"""The SemAIM self-supervised algorithm (one pre-training step)."""
import inspect
from contextlib import nullcontext
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from ..profiling.phases import phase
from ..seeding import mix_seed
from .attention import (FastPath, ReferencePath, build_attention_path,
                        check_path)
from .orders import (OrderRule, Permutation, build_order_rule, draw_noise,
                     similarity_map)
from .precision import full_fp32

SIMILARITY_SOURCES = ('cls', 'teacher')
Part = Union[dict, nn.Module]  # a config or a built module


def fill_cfg(cfg: Part, part: str, fixed: Dict[str, Tuple[object, str]],
             defaults: Optional[dict] = None) -> Part:
    """``cfg`` with what :class:`SemAIM` derives from its other parts.

    ``fixed``: ``{key: (value, what it is)}``, values the architecture
    dictates; one given differently is an error naming the field.
    ``defaults``: values used when the key is unset (a different value is a
    legitimate choice). Built modules are returned as they are.
    """
    if isinstance(cfg, nn.Module):
        return cfg
    cfg = dict(cfg)
    for key, (value, what) in fixed.items():
        given = cfg.setdefault(key, value)
        if given != value:
            raise ValueError(
                f'{part}.{key}={given!r} does not fit {what} ({value!r}): '
                f'leave {part}.{key} unset, SemAIM fills it in')
    cfg.update({k: v for k, v in (defaults or {}).items() if k not in cfg})
    return cfg


def takes(cfg: Part, arg: str) -> bool:
    """Whether the registered class of config ``cfg`` takes ``arg``."""
    if isinstance(cfg, nn.Module):
        return False
    cls = cfg['type'] if isinstance(cfg['type'], type) else MODELS.get(
        cfg['type'])
    return cls is not None and arg in inspect.signature(cls).parameters


@MODELS.register_module()
class SemAIM(BaseSelfSupervisor):
    """SemAIM: semantic-aware autoregressive image modeling (AAAI 2024).

    One step (:meth:`loss`): similarity pass -> the order rule makes the
    batch's permutation -> causal encoder + parallel decoder -> loss against
    targets gathered into the same permutation.

    What the backbone dictates is filled in from it; configs leave it out.
    An explicit value that disagrees is an error naming the field, except
    where another value is a legitimate choice (marked "default").

    * neck: ``embed_dims`` and ``encoder_depth`` (the encoder's width and
      depth), ``num_heads`` and ``depth`` (default: the encoder's heads and
      depth, the reference code's and the paper's setting);
    * head: ``embed_dims`` (the decoder width) and ``target_dim`` (the
      target generator's);
    * target generator: ``patch_size`` and ``in_channels`` (the backbone's)
      where its class takes them; a teacher's ``student_patch_size``.

    Args:
        backbone: :class:`SemAIMViT` config.
        neck: :class:`SemAIMDecoder` config.
        head: :class:`SemAIMHead` config.
        target_generator: e.g. ``RGBTargetGenerator`` (the default); it sees
            the normalised images and returns (B, N, D_t) in raster order.
        order: the order rule (name or dict, see
            :mod:`semaim_mm.models.orders`).
        similarity_source: ``'cls'`` (the paper's Eq. 2: cos of this step's
            encoder's CLS vs patches) or ``'teacher'`` (the frozen teacher
            of a :class:`TeacherTargetGenerator`, as the reference code does
            with feature targets: its tokens are computed once per step for
            order and targets).
        attention_path: ``'fast'`` (ordered tokens + causal SDPA) or
            ``'reference'`` (explicit N x N masks, the paper's formulation).
        similarity_fp32: compute the whole student similarity map (encoder
            pass, cosine, softmax) in fp32 outside autocast, as the reference
            code does. Off by default: under autocast the encoder pass runs
            in the autocast dtype, which is cheaper (the cosine and the
            softmax are fp32 either way).
        seed: base seed of the per-image order noise (with the training
            iteration and the sample index of each data sample's metainfo,
            see :meth:`order_noise`).
        compile: ``torch.compile`` every encoder and decoder block in place
            (``nn.Module.compile``: parameter names and checkpoints are
            unchanged); ``True`` or a dict of ``torch.compile`` kwargs.
            Off by default (first steps pay the compilation).
        log_order_stats: add ``sim_peak`` (N * max S, 1 = flat map) to the
            logged outputs.
    """

    def __init__(self,
                 backbone: Part,
                 neck: Part,
                 head: Part,
                 target_generator: Optional[Part] = None,
                 order: Union[str, dict] = 'semantic',
                 similarity_source: str = 'cls',
                 attention_path: str = 'fast',
                 similarity_fp32: bool = False,
                 seed: int = 0,
                 log_order_stats: bool = True,
                 compile: Union[bool, dict] = False,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if not isinstance(backbone, nn.Module):
            backbone = MODELS.build(backbone)
        target_generator = self.build_target_generator(target_generator,
                                                       backbone)
        neck, head = self.fill_decoder_and_head(neck, head, backbone,
                                                target_generator)
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            target_generator=target_generator,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.freeze_unused()
        if similarity_source not in SIMILARITY_SOURCES:
            raise ValueError(
                f'similarity_source must be one of {SIMILARITY_SOURCES}, '
                f'got {similarity_source!r}')
        if similarity_source == 'teacher' and not hasattr(
                self.target_generator, 'similarity'):
            raise ValueError("similarity_source='teacher' needs a teacher "
                             'target generator (DINO/CLIPTargetGenerator)')
        self.similarity_source = similarity_source
        self.attention_path = attention_path
        self.similarity_fp32 = similarity_fp32
        self.compile_cfg = compile
        if compile:
            self.compile_blocks(**(compile if isinstance(compile, dict)
                                   else {}))
        self.seed = seed
        self.log_order_stats = log_order_stats
        self.order_rule: OrderRule = build_order_rule(order)

    # ------------------------------------------------------------- building
    @staticmethod
    def build_target_generator(cfg: Optional[Part],
                               backbone: nn.Module) -> nn.Module:
        """The target generator on the backbone's patch grid."""
        if cfg is None:
            cfg = dict(type='RGBTargetGenerator')
        if takes(cfg, 'patch_size'):
            cfg = fill_cfg(cfg, 'target_generator', dict(
                patch_size=(backbone.patch_size, "the backbone's patch size"),
                in_channels=(backbone.in_channels,
                             "the backbone's in_channels")))
        module = cfg if isinstance(cfg, nn.Module) else MODELS.build(cfg)
        if getattr(module, 'student_patch_size', 0) is None:
            # teachers: targets on the student's grid
            module.student_patch_size = backbone.patch_size
        return module

    @staticmethod
    def fill_decoder_and_head(neck: Part, head: Part, backbone: nn.Module,
                              target_generator: nn.Module
                              ) -> Tuple[Part, Part]:
        """Decoder and head configs completed from the backbone (see the
        class docstring)."""
        # the decoder reads the encoder's tokens and position embeddings as
        # they are: its width is the encoder's
        neck = fill_cfg(
            neck, 'neck',
            dict(embed_dims=(backbone.embed_dims, 'the encoder width'),
                 encoder_depth=(backbone.num_layers, 'the encoder depth')),
            dict(num_heads=backbone.arch_settings['num_heads'],
                 depth=backbone.num_layers))
        head = fill_cfg(head, 'head', dict(
            embed_dims=(backbone.embed_dims, 'the decoder width'),
            target_dim=(target_generator.target_dim,
                        "the target generator's target_dim")))
        return neck, head

    def freeze_unused(self) -> None:
        """Parameters that never reach the loss would stall DDP's gradient
        reduction: the encoder's final norm (only the no-grad similarity
        pass uses it) and, with tap='before', the blocks after the last
        tap."""
        unused = list(self.backbone.layers[max(self.neck.taps):])
        if self.backbone.final_norm:
            unused.append(self.backbone.ln1)
        for module in unused:
            module.requires_grad_(False)

    def compile_blocks(self, **kwargs) -> None:
        """``torch.compile`` each encoder block and decoder block in place
        (the same compiled code serves the similarity pass, the causal
        encoder and, on the reference path, the masked one)."""
        blocks = list(getattr(self.backbone, 'layers', [])) + list(
            getattr(self.neck, 'blocks', []))
        for block in blocks:
            block.compile(**kwargs)

    @property
    def attention_path(self) -> str:
        """``'fast'`` or ``'reference'`` (checked when set)."""
        return self._attention_path

    @attention_path.setter
    def attention_path(self, path: str) -> None:
        self._attention_path = check_path(path)

    # ----------------------------------------------------------- the pieces
    @torch.no_grad()
    def similarity(self, inputs: Tensor) -> Tensor:
        """Similarity map S (B, N) from a frozen copy of this step's encoder:
        eval mode (no dropout / drop path), no grad, no mask, final norm;
        the caller's train/eval mode is restored afterwards. With
        ``similarity_fp32`` all of it runs in IEEE fp32 (no autocast, no
        TF32). With
        ``similarity_source='teacher'`` the map comes from the frozen teacher
        (no student pass; its tokens are shared with the targets)."""
        if self.similarity_source == 'teacher':
            return self.target_generator.similarity(inputs)
        fp32 = (full_fp32(inputs.device.type)
                if self.similarity_fp32 else nullcontext())
        was_training = self.backbone.training
        self.backbone.eval()
        try:
            with fp32:
                tokens = self.backbone.forward_tokens(
                    inputs.float() if self.similarity_fp32 else inputs)
                return similarity_map(tokens)
        finally:
            self.backbone.train(was_training)

    def order_noise(self, batch_size: int, num_patches: int,
                    data_samples: Optional[List[DataSample]],
                    device: torch.device) -> Tensor:
        """(B, N) per-image noise seeded by (seed, ``iteration``,
        ``sample_idx``) of each sample's metainfo (the dataset sets
        ``sample_idx``, :class:`~semaim_mm.engine.SampleIterationHook` the
        training iteration); from the global RNG when the samples carry no
        ``sample_idx``."""
        samples = data_samples or []
        idx = [ds.metainfo.get('sample_idx') for ds in samples]
        if len(idx) != batch_size or any(i is None for i in idx):
            return torch.rand(batch_size, num_patches, device=device)
        its = [ds.metainfo.get('iteration') for ds in samples]
        if any(it is None for it in its):
            raise ValueError(
                "data samples carry 'sample_idx' but no 'iteration' to seed "
                "the order noise: add default_hooks=dict(sample_iteration="
                "dict(type='SampleIterationHook')) to the config (configs/"
                "_base_/default_runtime.py has it), or set metainfo "
                "'iteration' when calling SemAIM.loss directly")
        return draw_noise(
            [mix_seed(self.seed, it, i) for it, i in zip(its, idx)],
            num_patches, device)

    def make_permutation(self, inputs: Tensor,
                         data_samples: Optional[List[DataSample]] = None
                         ) -> Permutation:
        """This batch's permutation from the order rule (similarity
        pass only when the rule needs it)."""
        rule = self.order_rule
        grid = self.backbone.check_input(inputs)
        n = grid[0] * grid[1]
        sim = self.similarity(inputs) if rule.needs_similarity else None
        noise = self.order_noise(inputs.shape[0], n, data_samples,
                                 inputs.device)
        return rule(sim, grid, noise)

    def attention_for(self, permutation: Permutation
                      ) -> Union[FastPath, ReferencePath]:
        """This model's attention path (``attention_path``) under
        ``permutation``."""
        return build_attention_path(self.attention_path, permutation)

    def predict_patches(self, inputs: Tensor,
                        path: Union[FastPath, ReferencePath]) -> Tensor:
        """Encoder + decoder + head: predictions (B, N, D_t), patches in the
        path's sequence (the order's on the fast path, raster on the
        reference path; ``path.targets`` arranges targets alike)."""
        with phase('encoder'):
            states, queries = self.backbone.forward_autoregressive(
                inputs, self.neck.taps, path)
        with phase('decoder_head'):
            return self.head.predict(
                path.predictions(self.neck(queries, states, path)))

    # ------------------------------------------------------- mmpretrain API
    def extract_feat(self, inputs: Tensor):
        return self.backbone(inputs)

    def loss(self, inputs: Union[Tensor, List[Tensor]],
             data_samples: Optional[List[DataSample]] = None,
             permutation: Optional[Permutation] = None,
             **kwargs) -> Dict[str, Tensor]:
        """One training step's losses; the only code that runs one.

        Args:
            inputs: (B, C, H, W) normalised images.
            data_samples: their samples (``sample_idx`` and ``iteration``
                seed the order noise, :meth:`order_noise`).
            permutation: a fixed :class:`Permutation` for this batch (tests,
                the authors' permutation); by default the order rule
                makes it from the similarity pass.

        The phases (:func:`semaim_mm.profiling.phases.phase`) are what
        ``tools/benchmark.py`` times.
        """
        if isinstance(inputs, (list, tuple)):
            inputs = inputs[0]
        with phase('similarity'):
            if permutation is None:
                permutation = self.make_permutation(inputs, data_samples)
        path = self.attention_for(permutation)
        with phase('targets'):
            target = path.targets(self.target_generator(inputs))
        pred = self.predict_patches(inputs, path)
        with phase('decoder_head'):
            losses = dict(loss=self.head.loss(pred, target))
        if self.log_order_stats and permutation.similarity is not None:
            sim = permutation.similarity
            losses['sim_peak'] = sim.max(dim=1).values.mean() * sim.shape[1]
        return losses
