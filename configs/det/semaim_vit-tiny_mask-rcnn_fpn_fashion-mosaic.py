# Mask R-CNN + FPN with a small SemAIM ViTDet backbone on the Fashion-MNIST
# mosaic COCO dataset (128x128 canvases, 10 classes); trains from scratch on a
# CPU in about 5 minutes. The model is the COCO config's (window + global
# attention, relative positions, multilevel pyramid, layer decay), scaled down,
# with two changes that this data needs (measured, docs/detection.md):
# * patch 8, not 16: the items are 7-56 px, 2x2 tokens at patch 16; RoI
#   features of patch-16 models carried no class information a linear probe
#   could read, and the RoI head never left the class prior;
# * no LayerNorm in the FPN and the RoI heads (ViTDet uses it on COCO): on
#   these black-background canvases the per-pixel LayerNorm removed the class
#   information of the RoI features at initialisation (linear probe on FPN
#   level 0: 15% held-out accuracy with it, 64% without).
#
#   python tools/dataset_converters/fashion_mosaic.py --out data/fashion_mosaic \
#       --format coco --num-train 2000 --num-val 200 --seed 0
#   python tools/train.py configs/det/semaim_vit-tiny_mask-rcnn_fpn_fashion-mosaic.py
#   python tools/test.py configs/det/semaim_vit-tiny_mask-rcnn_fpn_fashion-mosaic.py \
#       work_dirs/semaim_vit-tiny_mask-rcnn_fpn_fashion-mosaic/iter_400.pth
_base_ = [
    './semaim_vitb_mask-rcnn_fpn_100e_coco.py',
    '../_base_/models/vit-tiny_archs.py',
]

image_size = (128, 128)
patch_size = 8  # a 16x16 token grid; pyramid strides 4 / 8 / 16 / 32
strides = [4, 8, 16, 32, 64]
num_classes = 10
channels = 64
width = {{_base_.vit_tiny_p8_arch.embed_dims}}

model = dict(
    backbone=dict(
        arch={{_base_.vit_tiny_p8_arch}},
        img_size=image_size,
        pretrain_img_size=128,
        patch_size=patch_size,
        window_size=8,
        global_attn_indexes=(1, 3),
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.0,
        init_cfg=None),
    neck=dict(in_channels=[width] * 4, out_channels=channels,
              norm_cfg=None),
    rpn_head=dict(
        in_channels=channels,
        feat_channels=channels,
        num_convs=1,
        anchor_generator=dict(strides=strides, scales=[8])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels,
                                featmap_strides=strides[:4]),
        bbox_head=dict(
            type='ConvFCBBoxHead',
            num_shared_convs=2,
            num_shared_fcs=1,
            in_channels=channels,
            conv_out_channels=channels,
            fc_out_channels=256,
            num_classes=num_classes,
            norm_cfg=None),
        mask_roi_extractor=dict(out_channels=channels,
                                featmap_strides=strides[:4]),
        mask_head=dict(
            num_convs=2,
            in_channels=channels,
            conv_out_channels=channels,
            num_classes=num_classes,
            norm_cfg=None)),
    train_cfg=dict(
        rpn=dict(sampler=dict(num=128)),
        rpn_proposal=dict(nms_pre=300, max_per_img=100),
        rcnn=dict(sampler=dict(num=64), mask_size=28)),
    test_cfg=dict(
        rpn=dict(nms_pre=300, max_per_img=100),
        rcnn=dict(max_per_img=20)))

data_root = 'data/fashion_mosaic/coco/'
metainfo = dict(
    classes=('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal',
             'Shirt', 'Sneaker', 'Bag', 'Ankle boot'))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=8),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        indices=50,  # first 50 val canvases: quick CPU evaluation
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# mmdet's CocoMetric scores every image of ann_file: the canvases the loader
# leaves out would count as missed detections.
val_evaluator = dict(type='EvaluatedImagesCocoMetric',
                     ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

max_iters = 400
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
    val_interval=max_iters)
# AdamW at 1e-3 let the RoI head's ReLUs die (91% zero, constant output)
# within 100 iterations; 2e-4 keeps them alive.
# fp32 on a CPU: replaces the base's bf16 AmpOptimWrapper (and its keys).
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='SemAIMLayerDecayOptimizerConstructor',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999),
                   weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.9),
    clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=20),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=20, end=max_iters,
         T_max=max_iters - 20, eta_min=1e-6),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(_delete_=True, type='CheckpointHook', by_epoch=False,
                    interval=max_iters, max_keep_ckpts=1),
    visualization=dict(type='DetVisualizationHook', draw=False))
log_processor = dict(by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
