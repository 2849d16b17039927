# SemAIM ViT-L/16, 800 epochs, CLIP ViT-B/16 feature targets (paper: 85.8 /
# 86.5 fine-tune top-1). Same teacher file as semaim_vitb_clip_800e.py.
# 32 GPUs = 4 nodes x 8, on node i (0..3):
#   NNODES=4 NODE_RANK=i MASTER_ADDR=node0 \
#       tools/dist_train.sh configs/pretrain/semaim_vitl_clip_800e.py 8
# or: GPUS=32 tools/slurm_train.sh PARTITION JOB \
#       configs/pretrain/semaim_vitl_clip_800e.py WORK_DIR
_base_ = './semaim_vitb_clip_800e.py'

model = dict(backbone=dict(arch='large'))
