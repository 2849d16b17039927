"""Tiny SemAIM models for the model tests."""
from typing import Optional, Tuple, Union

import torch
from mmpretrain.registry import MODELS


def tiny_semaim(img_size: Union[int, Tuple[int, int]] = 32,
                patch_size: int = 8,
                depth: int = 4,
                decoder_depth: int = 4,
                order='semantic',
                width: int = 32,
                backbone_extra: Optional[dict] = None,
                neck_extra: Optional[dict] = None,
                **kwargs):
    model = MODELS.build(
        dict(
            type='SemAIM',
            backbone=dict(
                type='SemAIMViT',
                arch=dict(embed_dims=width, num_layers=depth, num_heads=4,
                          feedforward_channels=2 * width),
                img_size=img_size,
                patch_size=patch_size, **(backbone_extra or {})),
            neck=dict(type='SemAIMDecoder', num_heads=4,
                      depth=decoder_depth, **(neck_extra or {})),
            head=dict(type='SemAIMHead', embed_dims=width),
            order=order,
            **kwargs))
    model.init_weights()
    return model


def images(batch: int, hw, channels: int = 3, seed: int = 0,
           dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, *hw, generator=g, dtype=dtype)


def reference_semaim(expected: dict, **kwargs):
    """The SemAIM equal to the authors' ``AimViT`` of ``expected.json``'s
    ``model`` arguments (fixtures/semaim_reference), not initialised."""
    a = expected['model']
    width, ratio = a['embed_dim'], a['mlp_ratio']
    return MODELS.build(
        dict(
            type='SemAIM',
            backbone=dict(
                type='SemAIMViT',
                arch=dict(embed_dims=width, num_layers=a['depth'],
                          num_heads=a['num_heads'],
                          feedforward_channels=width * ratio),
                img_size=a['img_size'],
                patch_size=a['patch_size']),
            neck=dict(type='SemAIMDecoder', num_heads=a['num_heads'],
                      depth=a['query_depth'], mlp_ratio=ratio, tap='after'),
            head=dict(type='SemAIMHead', embed_dims=width, mlp_ratio=ratio),
            target_generator=dict(
                type='RGBTargetGenerator', patch_size=a['patch_size'],
                blur_kernel=a['gaussian_kernel_size'],
                blur_sigma=a['gaussian_sigma'],
                norm_pix=a['norm_pix_loss']),
            similarity_source=a['attention_type'],
            **kwargs))
