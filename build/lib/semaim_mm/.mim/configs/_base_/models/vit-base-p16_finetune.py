# ViT-B/16 classifier initialised from a SemAIM pre-training checkpoint:
# SemAIMViT (mmpretrain VisionTransformer with the encoder's strict loader:
# any checkpoint holding the encoder, the authors' converted on the fly, an
# error for any missing key), learnable position embedding, global average
# pooling of the patch tokens (out_type='avg_featmap', final_norm=False: the
# pooled feature goes through the fresh `ln2`, the one key a SemAIM checkpoint
# lacks), drop path 0.1, mixup 0.8 / cutmix 1.0, label smoothing 0.1.
# Give the checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/.../epoch_800.pth
pretrained = ''
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='SemAIMViT',
        arch='base',
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        learnable_pos_embed=True,
        out_type='avg_featmap',
        final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained,
                      prefix='backbone.')),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=768,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1,
                  mode='original'),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]))
