# Full fine-tuning of the tiny Fashion-MNIST SemAIM ViT (vit_tiny_p4 of
# _base_/models/vit-tiny_archs.py;
# configs/pretrain/semaim_vit-tiny-p4_fashion-mnist.py), the
# ImageNet recipe scaled down: batch 128, lr 5e-4 x 128/256, layer decay
# 0.65, wd 0.05, drop path 0.1, RandAug, mixup 0.8 / cutmix 1.0, label
# smoothing 0.1, random erasing 0.25, GAP; 20 epochs, 2 warm-up. Validation
# on the TEST split.
#   python tools/train.py configs/benchmarks/finetune/vit-tiny-p4_1xb128-coslr-20e_fashion-mnist.py \
#     --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/semaim_vit-tiny-p4_fashion-mnist/iter_300.pth
_base_ = [
    '../../_base_/models/vit-base-p16_finetune.py',
    '../../_base_/models/vit-tiny_archs.py',
    '../../_base_/datasets/fashion_mnist_cls.py',
    '../../_base_/schedules/adamw_layer-decay_finetune.py',
    '../../_base_/default_runtime.py',
]
max_epochs = 20
warmup_epochs = 2
model = dict(
    data_preprocessor={{_base_.data_preprocessor}},
    backbone={{_base_.vit_tiny_p4}},
    head=dict(num_classes=10,
              in_channels={{_base_.vit_tiny_p4.arch.embed_dims}}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, eta_min=1e-6,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
default_hooks = dict(
    checkpoint=dict(interval=5, max_keep_ckpts=2),
    logger=dict(interval=50))
randomness = dict(seed=0, diff_rank_seed=True)
