"""SemAIM model parts, registered in mmpretrain's ``MODELS`` registry."""
from .algorithm import SemAIM
from .attention import CrossAttention, SelfAttention, attend, autoregressive_masks
from .decoder import SemAIMDecoder, decoder_taps
from .head import SemAIMHead
from .orders import ORDERS, Order, build_order, draw_noise
from .targets import RGBTargetGenerator, patchify
from .teachers import (CLIPTargetGenerator, DINOTargetGenerator,
                       TeacherTargetGenerator)
from .vit import SemAIMViT, gather_tokens, sincos_pos_embed

__all__ = [
    'SemAIM', 'SemAIMViT', 'SemAIMDecoder', 'SemAIMHead', 'RGBTargetGenerator',
    'SelfAttention', 'CrossAttention', 'attend', 'autoregressive_masks',
    'decoder_taps', 'ORDERS', 'Order', 'build_order', 'draw_noise', 'patchify',
    'gather_tokens', 'sincos_pos_embed', 'TeacherTargetGenerator',
    'DINOTargetGenerator', 'CLIPTargetGenerator'
]
