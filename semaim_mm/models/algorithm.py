"""The SemAIM self-supervised algorithm (one pre-training step)."""
from contextlib import nullcontext
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmengine.model import ExponentialMovingAverage
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from .attention import autoregressive_masks, check_path
from .orders import BaseOrder, Order, build_order, draw_noise
from .vit import gather_tokens

SIMILARITY_SOURCES = ('cls', 'gap', 'ema', 'teacher')


def sample_seed(base: int, iteration: int, sample_idx: int) -> int:
    """Seed of one image's order noise at one iteration: independent of the
    batch it lands in, of the rank and of the world size."""
    return ((base * 1_000_003 + iteration) * 1_000_000_007 + sample_idx) % (2**63)


@MODELS.register_module()
class SemAIM(BaseSelfSupervisor):
    """SemAIM: semantic-aware autoregressive image modeling (AAAI 2024).

    One step: similarity pass -> order -> causal encoder + parallel decoder
    -> loss against targets gathered into the same order.

    Args:
        backbone: :class:`SemAIMViT` config.
        neck: :class:`SemAIMDecoder` config (``encoder_depth`` and
            ``embed_dims`` default to the backbone's).
        head: :class:`SemAIMHead` config (``target_dim`` defaults to the
            target generator's).
        target_generator: e.g. ``RGBTargetGenerator``; it sees the
            normalised images and returns (B, N, D_t) in raster order.
        order: the autoregression order (name or dict, see
            :mod:`semaim_mm.models.orders`).
        order_schedule: optional ``[dict(begin=0, order='stochastic'),
            dict(begin=10, order='semantic')]``: the order in use from epoch
            ``begin`` on (from iteration ``begin`` if ``by_epoch=False``).
            Replaces ``order``.
        similarity_source: ``'cls'`` (cos of CLS vs patches), ``'gap'``
            (mean patch token vs patches) or ``'ema'`` (CLS of an EMA copy of
            the encoder) or ``'teacher'`` (the frozen teacher of a
            :class:`TeacherTargetGenerator`: CLS-vs-patch cosine, softmax;
            its tokens are computed once per step for order and targets).
        ema_momentum: EMA update weight of the online encoder (mmengine
            convention: ``ema = (1 - m) * ema + m * online``).
        attention_path: ``'fast'`` (ordered tokens + causal SDPA) or
            ``'reference'`` (explicit N x N masks, the paper's formulation).
        similarity_fp32: run the similarity pass in fp32 outside autocast
            (reference code behaviour); default runs it in the training
            dtype, which is cheaper.
        seed: base seed of the per-image order noise.
        compile: ``torch.compile`` every encoder and decoder block in place
            (``nn.Module.compile``: parameter names and checkpoints are
            unchanged); ``True`` or a dict of ``torch.compile`` kwargs.
            Off by default (first steps pay the compilation).
        log_order_stats: add ``sim_peak`` (N * max S, 1 = flat map) to the
            logged outputs.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 target_generator: Optional[dict] = None,
                 order: Union[str, dict] = 'semantic',
                 order_schedule: Optional[Sequence[dict]] = None,
                 by_epoch: bool = True,
                 similarity_source: str = 'cls',
                 ema_momentum: float = 0.004,
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
        if target_generator is None:
            target_generator = dict(
                type='RGBTargetGenerator', patch_size=backbone.patch_size,
                in_channels=backbone.in_channels)
        if not isinstance(target_generator, nn.Module):
            target_generator = MODELS.build(target_generator)
        if getattr(target_generator, 'student_patch_size', 0) is None:
            # teachers: targets on the student's grid
            target_generator.student_patch_size = backbone.patch_size
        if isinstance(neck, dict):
            neck = dict(neck)
            neck.setdefault('encoder_depth', backbone.num_layers)
            neck.setdefault('embed_dims', backbone.embed_dims)
            if neck['encoder_depth'] != backbone.num_layers:
                raise ValueError(
                    f"neck.encoder_depth {neck['encoder_depth']} != backbone "
                    f'depth {backbone.num_layers}: leave it unset')
        if isinstance(head, dict):
            head = dict(head)
            head.setdefault('target_dim', target_generator.target_dim)
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            target_generator=target_generator,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)

        # Parameters that never reach the loss would stall DDP's gradient
        # reduction: the encoder's final norm (only the no-grad similarity
        # pass uses it) and, with tap='before', the blocks after the last tap.
        unused = list(self.backbone.layers[max(self.neck.taps):])
        if self.backbone.final_norm:
            unused.append(self.backbone.ln1)
        for module in unused:
            module.requires_grad_(False)

        if similarity_source not in SIMILARITY_SOURCES:
            raise ValueError(f'similarity_source must be one of '
                             f'{SIMILARITY_SOURCES}, got {similarity_source!r}')
        if similarity_source == 'teacher' and not hasattr(
                self.target_generator, 'similarity'):
            raise ValueError("similarity_source='teacher' needs a teacher "
                             'target generator (DINO/CLIPTargetGenerator)')
        self.similarity_source = similarity_source
        self.attention_path = check_path(attention_path)
        self.similarity_fp32 = similarity_fp32
        self.compile_cfg = compile
        if compile:
            self.compile_blocks(**(compile if isinstance(compile, dict)
                                   else {}))
        self.seed = seed
        self.log_order_stats = log_order_stats
        self.by_epoch = by_epoch
        if order_schedule:
            begins = [int(s['begin']) for s in order_schedule]
            if begins[0] != 0 or begins != sorted(begins):
                raise ValueError('order_schedule must start at begin=0 and '
                                 f'be sorted by begin, got {begins}')
            self.order_schedule = [(b, build_order(s['order']))
                                   for b, s in zip(begins, order_schedule)]
        else:
            self.order_schedule = [(0, build_order(order))]
        if similarity_source == 'ema':
            if not 0 < ema_momentum <= 1:
                raise ValueError(f'ema_momentum must be in (0, 1], got '
                                 f'{ema_momentum}')
            self.ema_backbone = ExponentialMovingAverage(
                self.backbone, momentum=ema_momentum)

    def compile_blocks(self, **kwargs) -> None:
        """``torch.compile`` each encoder block and decoder block in place
        (the same compiled code serves the similarity pass, the causal
        encoder and, on the reference path, the masked one)."""
        blocks = list(getattr(self.backbone, 'layers', [])) + list(
            getattr(self.neck, 'blocks', []))
        for block in blocks:
            block.compile(**kwargs)

    # ----------------------------------------------------------- the pieces
    def current_order(self) -> BaseOrder:
        """The order in use at the runner's current epoch (or iteration)."""
        hub = MessageHub.get_current_instance()
        now = hub.get_info('epoch' if self.by_epoch else 'iter', 0) or 0
        active = [o for b, o in self.order_schedule if b <= now]
        return active[-1]

    @torch.no_grad()
    def similarity(self, inputs: Tensor) -> Tensor:
        """Similarity map S (B, N) from a frozen copy of this step's encoder:
        eval mode (no dropout / drop path), no grad, no mask, final norm;
        the caller's train/eval mode is restored afterwards. With
        ``similarity_source='teacher'`` the map comes from the frozen teacher
        (no student pass; its tokens are shared with the targets)."""
        if self.similarity_source == 'teacher':
            return self.target_generator.similarity(inputs)
        net = (self.ema_backbone.module
               if self.similarity_source == 'ema' else self.backbone)
        was_training = net.training
        net.eval()
        fp32 = (torch.autocast(inputs.device.type, enabled=False)
                if self.similarity_fp32 else nullcontext())
        try:
            with fp32:
                tokens = net.forward_tokens(
                    inputs.float() if self.similarity_fp32 else inputs)
        finally:
            net.train(was_training)
        tokens = tokens.float()
        if self.similarity_source == 'gap':
            anchor = tokens[:, 1:].mean(dim=1)
        else:
            anchor = tokens[:, 0]
        cos = torch.einsum('bd,bnd->bn', F.normalize(anchor, dim=-1),
                           F.normalize(tokens[:, 1:], dim=-1))
        return cos.softmax(dim=-1)

    def order_noise(self, batch_size: int, num_patches: int,
                    data_samples: Optional[List[DataSample]],
                    device: torch.device) -> Tensor:
        """(B, N) per-image noise seeded by (seed, iteration, sample index);
        from the global RNG when the samples carry no ``sample_idx``."""
        idx = [ds.metainfo.get('sample_idx') for ds in data_samples or []]
        if len(idx) != batch_size or any(i is None for i in idx):
            return torch.rand(batch_size, num_patches, device=device)
        it = MessageHub.get_current_instance().get_info('iter', 0) or 0
        return draw_noise([sample_seed(self.seed, it, i) for i in idx],
                          num_patches, device)

    def make_order(self, inputs: Tensor,
                   data_samples: Optional[List[DataSample]] = None,
                   order: Optional[BaseOrder] = None) -> Order:
        """The order for this batch (similarity pass only when needed)."""
        order = order or self.current_order()
        grid = self.backbone.check_input(inputs)
        n = grid[0] * grid[1]
        sim = self.similarity(inputs) if order.needs_similarity else None
        noise = self.order_noise(inputs.shape[0], n, data_samples,
                                 inputs.device)
        result = order(sim, grid, noise)
        result.similarity = sim
        return result

    def predict_in_order(self, inputs: Tensor, order: Order):
        """Run encoder + decoder + head under ``order``.

        Returns:
            (pred, perm): predictions (B, N, D_t) for the patches in the
            order ``perm`` (B, N) (raster order on the reference path).
        """
        return self.decode_in_order(*self.encode_in_order(inputs, order),
                                    order)

    def encode_in_order(self, inputs: Tensor, order: Order):
        """Encoder half of :meth:`predict_in_order` (split out so the
        benchmark can time it): returns ``(states, queries, dec_mask)``;
        ``dec_mask`` is None on the fast path."""
        taps = self.neck.taps
        if self.attention_path == 'fast':
            states, queries = self.backbone.forward_autoregressive(
                inputs, taps, perm=order.perm)
            return states, queries, None
        enc_mask, dec_mask = autoregressive_masks(order.rank.float())
        states, queries = self.backbone.forward_autoregressive(
            inputs, taps, attn_mask=enc_mask)
        return states, queries, dec_mask

    def decode_in_order(self, states, queries, dec_mask, order: Order):
        """Decoder + head half of :meth:`predict_in_order`."""
        if self.attention_path == 'fast':
            decoded = self.neck(queries, states, causal=True)
            return self.head.predict(decoded), order.perm
        decoded = self.neck(queries, states, attn_mask=dec_mask)
        raster = torch.arange(order.perm.shape[1], device=queries.device)
        return self.head.predict(decoded[:, 1:]), raster.expand_as(order.perm)

    # ------------------------------------------------------- mmpretrain API
    def extract_feat(self, inputs: Tensor):
        return self.backbone(inputs)

    def loss(self, inputs: Union[Tensor, List[Tensor]],
             data_samples: Optional[List[DataSample]] = None,
             order: Optional[Order] = None,
             **kwargs) -> Dict[str, Tensor]:
        """One training step's losses.

        Args:
            inputs: (B, C, H, W) normalised images.
            data_samples: their samples (``sample_idx`` seeds the order noise).
            order: a fixed :class:`Order` for this batch (tests, the
                authors' permutation); by default it is drawn from the
                current order and the similarity pass.
        """
        if isinstance(inputs, (list, tuple)):
            inputs = inputs[0]
        if self.similarity_source == 'ema' and self.training:
            self.ema_backbone.update_parameters(self.backbone)
        if order is None:
            order = self.make_order(inputs, data_samples)
        pred, perm = self.predict_in_order(inputs, order)
        target = gather_tokens(self.target_generator(inputs), perm)
        losses = dict(loss=self.head.loss(pred, target))
        if self.log_order_stats and order.similarity is not None:
            sim = order.similarity
            losses['sim_peak'] = sim.max(dim=1).values.mean() * sim.shape[1]
        return losses
