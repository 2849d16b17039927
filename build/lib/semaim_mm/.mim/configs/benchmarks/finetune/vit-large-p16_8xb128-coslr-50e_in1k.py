# SemAIM ViT-L/16 ImageNet-1k full fine-tuning, 50 epochs, batch 1024 (8 GPUs
# x 128); otherwise the ViT-B recipe: lr 5e-4 x 1024/256, layer decay 0.65,
# 20 warm-up epochs, wd 0.05, drop path 0.1, RandAug, mixup / cutmix, label
# smoothing, random erasing, GAP. (MAE's ViT-L recipe warms up 5 epochs and
# uses layer decay 0.75: override warmup_epochs / layer_decay_rate.)
_base_ = ['./vit-base-p16_8xb128-coslr-100e_in1k.py']
max_epochs = 50
warmup_epochs = 20
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.1),
    head=dict(in_channels=1024))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, eta_min=1e-6,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
