# Fine-tuning schedule (SemAIM appendix): AdamW(0.9, 0.999), base lr 5e-4 per
# 256 images (auto-scaled to the real batch, 1024 -> 2e-3), layer decay 0.65
# through mmpretrain's LearningRateDecayOptimWrapperConstructor, wd 0.05
# (none on norms / biases / cls_token / pos_embed), 20 warm-up epochs then
# cosine. Set `max_epochs` / `warmup_epochs` in the leaf config.
base_lr = 5e-4
base_batch_size = 256
layer_decay_rate = 0.65
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=base_lr, weight_decay=0.05,
                   betas=(0.9, 0.999), eps=1e-8),
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=layer_decay_rate,
        custom_keys={
            '.ln': dict(decay_mult=0.0),
            '.bias': dict(decay_mult=0.0),
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
        }))
max_epochs = 100
warmup_epochs = 20
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, eta_min=1e-6,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# lr above is per 256 images; mmengine scales it by real_batch / 256 when
# training (enable=True here; turn off to use the lr as written).
auto_scale_lr = dict(base_batch_size=base_batch_size, enable=True)
