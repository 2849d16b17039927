# SemAIM ViT-B/16, 800 epochs, CLIP ViT-B/16 feature targets: the paper's
# 85.3% fine-tune setting. Targets are the image tower's tokens after ln_post
# and the projection (512-d), loss 2 - 2cos, order from the teacher's
# CLS-vs-patch similarity. The teacher sees the student's ImageNet-normalised
# input, like the reference code.
# Teacher weights: checkpoints/ViT-B-16.pt (OpenAI's file, docs/teachers.md).
# 32 GPUs = 4 nodes x 8, on node i (0..3):
#   NNODES=4 NODE_RANK=i MASTER_ADDR=node0 \
#       tools/dist_train.sh configs/pretrain/semaim_vitb_clip_800e.py 8
# or: GPUS=32 tools/slurm_train.sh PARTITION JOB \
#       configs/pretrain/semaim_vitb_clip_800e.py WORK_DIR
_base_ = [
    './semaim_vitb_800e.py',
    '../_base_/models/semaim_feature-targets.py',
]

model = dict(
    _base_.feature_targets,
    target_generator=dict(
        _delete_=True,
        type='CLIPTargetGenerator',
        checkpoint='checkpoints/ViT-B-16.pt',
        arch='base',
        grid_mismatch='interpolate'),
)
