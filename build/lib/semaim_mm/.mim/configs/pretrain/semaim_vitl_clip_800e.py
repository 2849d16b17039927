# SemAIM ViT-L/16, 800 epochs, CLIP ViT-B/16 feature targets (paper: 85.8 /
# 86.5 fine-tune top-1). Same teacher file as semaim_vitb_clip_800e.py.
#   tools/dist_train.sh configs/pretrain/semaim_vitl_clip_800e.py 32
_base_ = './semaim_vitb_clip_800e.py'

model = dict(backbone=dict(arch='large'), neck=dict(depth=24))
