# SemAIM ViT-B/16 ImageNet-1k linear probe on the CLS token (paper): frozen
# encoder, BatchNorm (no affine) + Linear, 90 epochs, batch 4096 (8 x 512),
# SGD momentum 0.9, lr 0.1 x 4096/256. GAP features: the *_gap config.
#   bash tools/dist_train.sh configs/benchmarks/linear/vit-base-p16_8xb512-linear-coslr-90e_in1k.py 8 \
#     --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/semaim_vitb_800e/epoch_800.pth
# GPUs: bf16 autocast (AmpOptimWrapper, no loss scaling; what stays fp32 may
# use TF32). fp16 with loss scaling instead: --cfg-options
#   optim_wrapper.dtype=float16 optim_wrapper.loss_scale=dynamic
# On a CPU: python tools/train.py CONFIG --fp32 (a plain OptimWrapper).
_base_ = [
    '../../_base_/models/vit-base-p16_linear.py',
    '../../_base_/datasets/imagenet_bs512_linear.py',
    '../../_base_/schedules/sgd_linear_coslr.py',
    '../../_base_/default_runtime.py',
]
# Feature switch: out_type='cls_token' (CLS after the final norm, here) or
# 'avg_featmap' (mean of the patch tokens, the _gap config), e.g.
#   --cfg-options model.backbone.out_type=avg_featmap
model = dict(
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(out_type='cls_token'))
optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16', loss_scale=1.0)
default_hooks = dict(
    checkpoint=dict(interval=10, max_keep_ckpts=3, save_best='auto'),
    logger=dict(interval=50))
randomness = dict(seed=0, diff_rank_seed=True)
