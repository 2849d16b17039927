# SemAIM ViT-B/16 ImageNet-1k full fine-tuning, 100 epochs, batch 1024
# (8 GPUs x 128), lr 5e-4 x 1024/256, layer decay 0.65, warm-up 20 epochs,
# wd 0.05, drop path 0.1, RandAug m9-mstd0.5, mixup 0.8, cutmix 1.0, label
# smoothing 0.1, random erasing 0.25, global average pooling. Target: 83.8
# (400 ep pre-training) / 84.1 (800 ep) top-1.
#   bash tools/dist_train.sh configs/benchmarks/finetune/vit-base-p16_8xb128-coslr-100e_in1k.py 8 \
#     --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/semaim_vitb_800e/epoch_800.pth
# GPUs: bf16 autocast (AmpOptimWrapper, no loss scaling; what stays fp32 may
# use TF32). fp16 with loss scaling instead: --cfg-options
#   optim_wrapper.dtype=float16 optim_wrapper.loss_scale=dynamic
# On a CPU: python tools/train.py CONFIG --fp32 (a plain OptimWrapper).
_base_ = [
    '../../_base_/models/vit-base-p16_finetune.py',
    '../../_base_/datasets/imagenet_bs128_finetune.py',
    '../../_base_/schedules/adamw_layer-decay_finetune.py',
    '../../_base_/default_runtime.py',
]
model = dict(data_preprocessor={{_base_.data_preprocessor}})
optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16', loss_scale=1.0)
default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=3, save_best='auto'),
    logger=dict(interval=100))
randomness = dict(seed=0, diff_rank_seed=True)
