"""Tiny SemAIM models for the benchmark tests."""
import torch
from mmpretrain.registry import MODELS


def tiny_semaim(img_size=32, patch_size=8, depth=4, decoder_depth=2,
                width=32, backbone_extra=None, neck_extra=None, **kwargs):
    model = MODELS.build(
        dict(
            type='SemAIM',
            backbone=dict(
                type='SemAIMViT',
                arch=dict(embed_dims=width, num_layers=depth, num_heads=4,
                          feedforward_channels=2 * width),
                img_size=img_size, patch_size=patch_size,
                **(backbone_extra or {})),
            neck=dict(type='SemAIMDecoder', num_heads=4, depth=decoder_depth,
                      **(neck_extra or {})),
            head=dict(type='SemAIMHead', embed_dims=width),
            **kwargs))
    model.init_weights()
    return model


def images(batch, hw, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, *hw, generator=g)
