# SemAIM ViT-B/16, 800 epochs on ImageNet-1k, 32 GPUs x 64 images
# (paper: 84.1 fine-tune top-1, 51.3 / 45.4 COCO AP box / mask, 48.0 ADE20k mIoU).
# 32 GPUs = 4 nodes x 8, on node i (0..3):
#   NNODES=4 NODE_RANK=i MASTER_ADDR=node0 \
#       tools/dist_train.sh configs/pretrain/semaim_vitb_800e.py 8
# or: GPUS=32 tools/slurm_train.sh PARTITION JOB \
#       configs/pretrain/semaim_vitb_800e.py WORK_DIR
_base_ = [
    '../_base_/models/semaim_vit-base-p16.py',
    '../_base_/datasets/imagenet_bs64_semaim.py',
    '../_base_/schedules/semaim_adamw_coslr_800e.py',
    '../_base_/default_runtime.py',
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='SafeCheckpointHook', interval=10, max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
