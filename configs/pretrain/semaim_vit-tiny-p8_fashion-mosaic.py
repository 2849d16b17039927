# SemAIM pre-training of the tiny detection backbone
# (configs/det/semaim_vit-tiny_mask-rcnn_fpn_fashion-mosaic.py: the ViT
# `vit_tiny_p8_arch` of _base_/models/vit-tiny_archs.py, patch 8) on the
# Fashion-MNIST mosaic canvases (128x128, images only), the paper's
# pre-train -> Mask R-CNN pipeline at CPU size.
#   python tools/dataset_converters/fashion_mosaic.py --out data/fashion_mosaic \
#       --format coco --num-train 2000 --num-val 200 --seed 0
#   python tools/train.py configs/pretrain/semaim_vit-tiny-p8_fashion-mosaic.py
_base_ = './semaim_vit-tiny-p4_fashion-mnist.py'

# The detector's input normalisation (mmdet's ImageNet mean/std, RGB).
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(arch={{_base_.vit_tiny_p8_arch}}, img_size=128,
                  patch_size=8))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=128, crop_ratio_range=(0.5, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    dataset=dict(
        _delete_=True,
        type='mmpretrain.CustomDataset',
        data_root='data/fashion_mosaic/coco/train',
        with_label=False,
        pipeline=train_pipeline))

max_iters = 600
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=40),
    dict(type='CosineAnnealingLR', T_max=max_iters - 40, eta_min=1e-5,
         by_epoch=False, begin=40, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
