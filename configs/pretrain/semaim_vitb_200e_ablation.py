# Base of the paper's ablations (Tables 1-3): ViT-B/16, 200 epochs, RGB target,
# decoder depth 12, semantic order; 20 warm-up epochs, cosine to the end. The
# ablation configs change one thing each.
_base_ = './semaim_vitb_800e.py'

warmup_epochs = 20
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True,
         begin=warmup_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=200)
