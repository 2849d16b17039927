# SemAIM ViT-L/16 ImageNet-1k linear probe (CLS token); see the ViT-B config.
_base_ = ['./vit-base-p16_8xb512-linear-coslr-90e_in1k.py']
model = dict(
    backbone=dict(arch='large', frozen_stages=24),
    neck=dict(input_features=1024),
    head=dict(in_channels=1024))
