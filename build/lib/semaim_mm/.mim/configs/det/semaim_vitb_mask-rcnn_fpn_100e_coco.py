# SemAIM ViT-B/16 + Mask R-CNN + FPN on COCO, ViTDet-style fine-tuning
# (SemAIM paper appendix: 1024x1024 LSJ, batch 64, 100 epochs, AdamW lr 8e-5,
# wd 0.1, warmup 0.25 epoch, layer-wise lr decay, AMP; pyramid from 4 equal
# subsets of the blocks). Target: 50.7 / 45.0 (400 ep), 51.3 / 45.4 (800 ep)
# AP box / mask.
#
#   python tools/model_converters/semaim_to_backbone.py \
#       work_dirs/semaim_vitb_800e/epoch_800.pth checkpoints/semaim_vitb_800e_backbone.pth
#   bash tools/dist_train.sh configs/det/semaim_vitb_mask-rcnn_fpn_100e_coco.py 8
#
# (or point init_cfg at the pre-training checkpoint itself with
# prefix='backbone.'). ViTDet's simple feature pyramid instead of the
# multilevel one: --cfg-options model.backbone.pyramid=simple
# "model.neck.in_channels=[192,384,768,768]".
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::common/lsj-100e_coco-instance.py',  # COCO, LSJ, CocoMetric
]
custom_imports = dict(imports=['semaim_mm.det'], allow_failed_imports=False)
default_scope = 'mmdet'

image_size = (1024, 1024)
pretrained = 'checkpoints/semaim_vitb_800e_backbone.pth'
norm_cfg = dict(type='SemAIMLN2d', requires_grad=True)

model = dict(
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_mask=True,
        pad_size_divisor=32),
    backbone=dict(
        _delete_=True,
        type='SemAIMViTDet',
        arch='base',
        img_size=image_size,
        pretrain_img_size=224,
        patch_size=16,
        window_size=14,
        global_attn_indexes=(2, 5, 8, 11),
        use_rel_pos=True,
        pyramid='multilevel',
        out_indices=(2, 5, 8, 11),  # after blocks 3, 6, 9, 12
        drop_path_rate=0.1,
        with_cp=False,  # True: activation checkpointing (less memory)
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(
        type='FPN',
        in_channels=[768, 768, 768, 768],
        out_channels=256,
        norm_cfg=norm_cfg,
        num_outs=5),
    rpn_head=dict(num_convs=2),  # ViTDet: 2 convs in the RPN head
    roi_head=dict(
        bbox_head=dict(
            _delete_=True,
            type='Shared4Conv1FCBBoxHead',
            conv_out_channels=256,
            norm_cfg=norm_cfg,
            in_channels=256,
            fc_out_channels=1024,
            roi_feat_size=7,
            num_classes=80,
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[0., 0., 0., 0.],
                target_stds=[0.1, 0.1, 0.2, 0.2]),
            reg_class_agnostic=False,
            loss_cls=dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
        mask_head=dict(norm_cfg=norm_cfg)))

# --- data: mmdet's COCO 2017 large-scale jitter (lsj-100e_coco-instance),
# with ViTDet's fixed 1024x1024 input (a Pad after the jitter; test images
# resized to 1024, not 1333x800, and padded), batch 8 per GPU and no
# RepeatDataset (the 100 epochs are counted directly).
train_pipeline = [
    *_base_.train_pipeline[:-1],
    dict(type='Pad', size=image_size, pad_val=dict(img=(114, 114, 114))),
    _base_.train_pipeline[-1],
]
test_pipeline = [
    _base_.test_pipeline[0],
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='Pad', size=image_size, pad_val=dict(img=(114, 114, 114))),
    *_base_.test_pipeline[2:],
]
train_dataloader = dict(
    batch_size=8,  # x 8 GPUs = 64 (or 2 x 32 GPUs)
    num_workers=8,
    dataset=dict(_base_.train_dataloader.dataset.dataset, _delete_=True,
                 pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# --- schedule ----------------------------------------------------------------
max_epochs = 100
train_cfg = dict(max_epochs=max_epochs, val_interval=10)

optim_wrapper = dict(
    type='AmpOptimWrapper',  # bf16, as pre-training (fp16: see there)
    dtype='bfloat16',
    loss_scale=1.0,
    constructor='SemAIMLayerDecayOptimizerConstructor',
    optimizer=dict(_delete_=True, type='AdamW', lr=8e-5, betas=(0.9, 0.999),
                   weight_decay=0.1),
    # lr x 0.7 ** (13 - layer id); no wd for norms, biases, pos_embed, rel_pos
    paramwise_cfg=dict(decay_rate=0.7))
param_scheduler = [
    # 0.25 epoch linear warm-up, converted to iterations
    dict(type='LinearLR', start_factor=0.001, by_epoch=True, begin=0,
         end=0.25, convert_to_iter_based=True),
    # ViTDet's step decay at 88.9 % and 96.3 % of training
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[89, 96], gamma=0.1),
]
auto_scale_lr = dict(base_batch_size=64, enable=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=3,
                    save_best='coco/bbox_mAP', rule='greater'))
env_cfg = dict(dist_cfg=dict(backend='nccl'))
log_processor = dict(by_epoch=True)
randomness = dict(seed=0)
