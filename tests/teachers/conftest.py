"""Tiny teacher checkpoints written exactly as the original codebases save
them (randomly initialised, every parameter perturbed)."""
import pytest
import torch

from .published import (dino_vit, randomize_, save_dino_release,
                        save_openai_jit, tiny_clip)

DINO_ARCH = dict(embed_dims=64, num_layers=2, num_heads=2, patch_size=7)
CLIP_ARCH = dict(embed_dims=64, num_layers=2, num_heads=1, patch_size=7,
                 out_dims=32)


@pytest.fixture(scope='session')
def dino_file(tmp_path_factory):
    torch.manual_seed(1)
    model = randomize_(dino_vit(28, 7, 64, 2, 2), seed=1).eval()
    path = str(tmp_path_factory.mktemp('dino') / 'dino_tiny_pretrain.pth')
    save_dino_release(model, path)
    return path, model


@pytest.fixture(scope='session')
def clip_file(tmp_path_factory):
    torch.manual_seed(2)
    model = randomize_(tiny_clip(), seed=2).eval()
    path = str(tmp_path_factory.mktemp('clip') / 'ViT-tiny.pt')
    save_openai_jit(model, path)
    return path, model
