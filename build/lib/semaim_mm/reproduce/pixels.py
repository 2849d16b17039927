"""Raw pixels as a "backbone": the probes' reference row."""
from typing import Tuple

from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class RawPixels(BaseModule):
    """(B, C, H, W) normalised images -> ((B, channels * H * W), ): the first
    ``channels`` channels flattened (Fashion-MNIST's gray value is
    replicated to three channels; one is the image)."""

    def __init__(self, channels: int = 1, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.channels = channels

    def forward(self, x: Tensor) -> Tuple[Tensor]:
        return (x[:, :self.channels].flatten(1), )
