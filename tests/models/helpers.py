"""Tiny SemAIM models for the model tests."""
from typing import Tuple, Union

import torch
from mmpretrain.registry import MODELS


def tiny_semaim(img_size: Union[int, Tuple[int, int]] = 32,
                patch_size: int = 8,
                depth: int = 4,
                decoder_depth: int = 4,
                order='semantic',
                width: int = 32,
                **kwargs):
    model = MODELS.build(
        dict(
            type='SemAIM',
            backbone=dict(
                type='SemAIMViT',
                arch=dict(embed_dims=width, num_layers=depth, num_heads=4,
                          feedforward_channels=2 * width),
                img_size=img_size,
                patch_size=patch_size),
            neck=dict(type='SemAIMDecoder', num_heads=4,
                      depth=decoder_depth),
            head=dict(type='SemAIMHead', embed_dims=width),
            order=order,
            **kwargs))
    model.init_weights()
    return model


def images(batch: int, hw, channels: int = 3, seed: int = 0,
           dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, *hw, generator=g, dtype=dtype)
