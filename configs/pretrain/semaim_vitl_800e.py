# SemAIM ViT-L/16, 800 epochs, RGB target (the paper's ViT-L result uses the
# CLIP target: see semaim_vitl_clip_800e.py once teachers are available).
_base_ = './semaim_vitb_800e.py'

model = dict(backbone=dict(arch='large'))
