# SemAIM pre-training schedule (paper appendix / reference code): AdamW
# (0.9, 0.95), wd 0.05, base lr 2e-4 x batch / 256, 30 warm-up epochs, cosine
# to the end of training (800 epochs), grad clip 3.0, AMP. A longer or
# shorter run sets only train_cfg.max_epochs: the cosine has no end / T_max,
# so mmengine's Runner ends it at max_epochs.
# AMP in bf16 (Ampere / Hopper): fp16's range is what makes MAE-family
# pre-training overflow at scale, and bf16 needs no loss scaling (a fixed
# scale of 1 keeps the wrapper's skip of non-finite steps). fp16 with loss
# scaling: --cfg-options optim_wrapper.dtype=float16 \
#     optim_wrapper.loss_scale=dynamic
# The total batch, 32 GPUs x 64 (4 nodes x 8, see
# configs/pretrain/semaim_vitb_800e.py): the lr below is written for it and
# --auto-scale-lr rescales it to another one.
auto_scale_lr = dict(base_batch_size=2048)

optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='bfloat16',
    loss_scale=1.0,
    optimizer=dict(
        type='AdamW', lr=2e-4 * auto_scale_lr['base_batch_size'] / 256,
        betas=(0.9, 0.95),
        weight_decay=0.05),
    clip_grad=dict(max_norm=3.0),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.),
        }))

warmup_epochs = 30
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=0.0,
        by_epoch=True,
        begin=warmup_epochs,
        convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=800)
