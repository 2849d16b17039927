# SemAIM ViT-B/16 + UperNet on ADE20k, 512x512, 160k iterations
# (paper: batch 16 = 8 GPUs x 2, AdamW lr 4e-4, wd 0.05, layer decay 0.65,
# 1500 linear warm-up iterations then poly, AMP; target 48.0 mIoU for the
# 800-epoch checkpoint). Data: mmseg's ADE20k layout under
# data/ade/ADEChallengeData2016 (see docs/segmentation.md).
#
#   bash tools/dist_train.sh configs/seg/semaim_vitb_upernet_160k_ade20k-512x512.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=PRETRAIN.pth
_base_ = [
    '../_base_/models/upernet_semaim_vit-base-p16.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
default_scope = 'mmseg'
custom_imports = dict(imports=['semaim_mm.seg'], allow_failed_imports=False)

pretrained = 'work_dirs/semaim_vitb_800e/epoch_800.pth'  # SemAIM pre-training
model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=pretrained,
                      prefix='backbone.')))

# 8 GPUs x 2 images = 16
train_dataloader = dict(batch_size=2, num_workers=4)
val_dataloader = dict(batch_size=1, num_workers=4)
test_dataloader = val_dataloader

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',  # bf16, as pre-training (fp16: see there)
    dtype='bfloat16',
    loss_scale=1.0,
    optimizer=dict(
        type='AdamW', lr=4e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='SemAIMLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(num_layers=12, decay_rate=0.65))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=1500,
         end=160000),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=160000,
                 val_interval=16000)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=16000,
                    max_keep_ckpts=2, save_best='mIoU'))
auto_scale_lr = dict(enable=False, base_batch_size=16)
