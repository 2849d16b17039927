# SemAIM ViT-B/16, 800 epochs, DINO ViT-B/16 feature targets (paper Table 2):
# the frozen teacher's 768-d output tokens, loss 2 - 2cos, and the order's
# similarity map from the teacher (no extra student pass).
# Teacher weights: checkpoints/dino_vitbase16_pretrain.pth (docs/teachers.md).
# 32 GPUs = 4 nodes x 8, on node i (0..3):
#   NNODES=4 NODE_RANK=i MASTER_ADDR=node0 \
#       tools/dist_train.sh configs/pretrain/semaim_vitb_dino_800e.py 8
# or: GPUS=32 tools/slurm_train.sh PARTITION JOB \
#       configs/pretrain/semaim_vitb_dino_800e.py WORK_DIR
_base_ = [
    './semaim_vitb_800e.py',
    '../_base_/models/semaim_feature-targets.py',
]

model = dict(
    _base_.feature_targets,
    target_generator=dict(
        _delete_=True,
        type='DINOTargetGenerator',
        checkpoint='checkpoints/dino_vitbase16_pretrain.pth',
        arch='base',
        grid_mismatch='interpolate'),
)
