"""SemAIM's prediction head: LayerNorm + MLP to the target space, and the loss."""
from typing import Optional

import torch
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from timm.layers import Mlp
from torch import Tensor


@MODELS.register_module()
class SemAIMHead(BaseModule):
    """Predicts every patch's target from the decoded queries.

    Args:
        embed_dims: decoder width D; :class:`SemAIM` fills it from its
            decoder.
        target_dim: target channels (P*P*3 for RGB, the teacher's width for
            features); :class:`SemAIM` fills it from its target generator.
        mlp_ratio: hidden width of the MLP (D -> ratio*D -> target_dim).
        loss: loss module over all patches, mean-reduced:
            ``PixelReconstructionLoss(criterion='L2')`` is the paper's MSE;
            ``CosineSimilarityLoss(shift_factor=2, scale_factor=2)`` is the
            ``2 - 2 cos`` of L2-normalised features.
    """

    def __init__(self,
                 embed_dims: int,
                 target_dim: int,
                 mlp_ratio: float = 4.,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 loss: dict = dict(
                     type='PixelReconstructionLoss', criterion='L2'),
                 init_cfg: Optional[dict] = dict(
                     type='Xavier', layer='Linear', distribution='uniform'),
                 ) -> None:
        super().__init__(init_cfg=init_cfg)
        if target_dim < 1:
            raise ValueError('SemAIMHead needs a positive target_dim '
                             f'(got {target_dim})')
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1]
        self.mlp = Mlp(embed_dims, int(embed_dims * mlp_ratio), target_dim)
        self.loss_module = MODELS.build(loss)

    def predict(self, x: Tensor) -> Tensor:
        """(B, N, D) decoded queries -> (B, N, target_dim)."""
        return self.mlp(self.norm(x))

    def loss(self, pred: Tensor, target: Tensor) -> Tensor:
        """Mean loss over all patches; pred and target (B, N, target_dim) in
        the same patch order.

        Taken in at least fp32 with autocast disabled, against the targets
        as they come (fp32 RGB targets are never rounded to the autocast
        dtype of the prediction).
        """
        dtype = torch.promote_types(
            torch.promote_types(pred.dtype, target.dtype), torch.float32)
        with torch.autocast(pred.device.type, enabled=False):
            return self.loss_module(pred.to(dtype), target.to(dtype))
