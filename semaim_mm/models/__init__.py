"""SemAIM model parts, registered in mmpretrain's ``MODELS`` registry."""
from .algorithm import SemAIM
from .attention import (ATTENTION_PATHS, CrossAttention, FastPath,
                        ReferencePath, SelfAttention, attend,
                        autoregressive_masks, build_attention_path)
from .decoder import SemAIMDecoder, decoder_taps
from .head import SemAIMHead
from .orders import (ORDERS, OrderRule, Permutation, build_order_rule,
                     draw_noise, similarity_map)
from .targets import RGBTargetGenerator, patchify
from .teachers import (CLIPTargetGenerator, DINOTargetGenerator,
                       TeacherTargetGenerator)
from .vit import SemAIMViT, sincos_pos_embed

__all__ = [
    'SemAIM', 'SemAIMViT', 'SemAIMDecoder', 'SemAIMHead', 'RGBTargetGenerator',
    'SelfAttention', 'CrossAttention', 'attend', 'autoregressive_masks',
    'ATTENTION_PATHS', 'FastPath', 'ReferencePath', 'build_attention_path',
    'decoder_taps', 'ORDERS', 'OrderRule', 'Permutation', 'build_order_rule',
    'draw_noise',
    'similarity_map', 'patchify', 'sincos_pos_embed',
    'TeacherTargetGenerator', 'DINOTargetGenerator', 'CLIPTargetGenerator'
]
