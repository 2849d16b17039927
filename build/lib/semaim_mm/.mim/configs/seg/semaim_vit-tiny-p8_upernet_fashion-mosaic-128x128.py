# A tiny SemAIM ViT + UperNet on Fashion-MNIST mosaics (128x128): trains on
# a CPU in a few minutes; checks the whole segmentation path end to end.
#   python tools/dataset_converters/fashion_mosaic.py --out data/fashion_mosaic \
#       --format ade20k --num-train 1000 --num-val 100
#   python tools/train.py configs/seg/semaim_vit-tiny-p8_upernet_fashion-mosaic-128x128.py
_base_ = [
    '../_base_/models/upernet_semaim_vit-base-p16.py',
    '../_base_/models/vit-tiny_archs.py',
    '../_base_/datasets/fashion_mosaic_seg.py',
    'mmseg::_base_/default_runtime.py',
]
default_scope = 'mmseg'
custom_imports = dict(imports=['semaim_mm.seg'], allow_failed_imports=False)

crop_size = (128, 128)
norm_cfg = dict(type='BN', requires_grad=True)
embed_dims = {{_base_.vit_tiny_p8_arch.embed_dims}}
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch={{_base_.vit_tiny_p8_arch}},
        img_size=crop_size,
        patch_size=8,
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.0),
    # patch 8: strides 8 -> 4 / 8 / 16 / 32
    neck=dict(embed_dim=embed_dims, rescales=[2, 1, 0.5, 0.25],
              norm_cfg=norm_cfg),
    decode_head=dict(in_channels=[embed_dims] * 4, channels=32,
                     num_classes=10, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=embed_dims, channels=16,
                        num_classes=10, norm_cfg=norm_cfg),
    test_cfg=dict(_delete_=True, mode='whole'))

train_dataloader = dict(batch_size=4)

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                   weight_decay=0.05),
    constructor='SemAIMLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.9))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=20),
    dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=20,
         end=200),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=200, val_interval=200)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=200),
    visualization=dict(type='SegVisualizationHook', draw=False))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
