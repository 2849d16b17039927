# SemAIM ViT-B/16, 400 epochs (paper: 83.8 fine-tune top-1, 50.7 / 45.0 COCO).
_base_ = './semaim_vitb_800e.py'

train_cfg = dict(max_epochs=400)
