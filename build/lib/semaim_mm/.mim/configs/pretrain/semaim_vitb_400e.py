# SemAIM ViT-B/16, 400 epochs (paper: 83.8 fine-tune top-1, 50.7 / 45.0 COCO).
_base_ = './semaim_vitb_800e.py'

max_epochs = 400
warmup_epochs = 30
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         eta_min=0.0, by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
