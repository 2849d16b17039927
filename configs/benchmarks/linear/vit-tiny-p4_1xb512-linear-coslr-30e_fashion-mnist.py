# Linear probe of the tiny Fashion-MNIST SemAIM ViT: frozen encoder, BN (no
# affine) + Linear, SGD momentum 0.9, lr 0.1 x 512/256, 30 epochs (3 warm-up),
# flip only. CLS token here; GAP with
#   --cfg-options model.backbone.out_type=avg_featmap
# Trains on 'train_minus_val', validates on the 'val' hold-out (the matrix's
# final cells switch to test). The values are provisional: no validation
# run has chosen them yet.
_base_ = [
    '../../_base_/models/vit-base-p16_linear.py',
    '../../_base_/models/vit-tiny_archs.py',
    '../../_base_/datasets/fashion_mnist_cls.py',
    '../../_base_/schedules/sgd_linear_coslr.py',
    '../../_base_/default_runtime.py',
]
max_epochs = 30
warmup_epochs = 3
model = dict(
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(
        arch={{_base_.vit_tiny_p4.arch}},
        img_size={{_base_.vit_tiny_p4.img_size}},
        patch_size={{_base_.vit_tiny_p4.patch_size}},
        frozen_stages={{_base_.vit_tiny_p4.arch.num_layers}},  # all blocks
        out_type='cls_token'),
    neck=dict(input_features={{_base_.vit_tiny_p4.arch.embed_dims}}),
    head=dict(num_classes=10,
              in_channels={{_base_.vit_tiny_p4.arch.embed_dims}}))
train_pipeline = [
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=512,
    dataset=dict(split='train_minus_val', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(split='val'))
test_dataloader = val_dataloader
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, eta_min=0.0,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
default_hooks = dict(
    checkpoint=dict(interval=5, max_keep_ckpts=2),
    logger=dict(interval=20))
randomness = dict(seed=0, diff_rank_seed=True)
