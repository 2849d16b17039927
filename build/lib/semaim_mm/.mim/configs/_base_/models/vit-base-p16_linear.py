# ViT-B/16 linear probe on a frozen SemAIM encoder (SemAIMViT: the encoder's
# strict loader, see vit-base-p16_finetune.py): BatchNorm without affine
# (ClsBatchNormNeck) + Linear. Feature: the CLS token after the final norm
# (out_type='cls_token', paper) or the average of the patch tokens
# (out_type='avg_featmap'; see the *_gap configs). In masked pre-training CLS
# attends only to itself, so both are offered.
pretrained = ''
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='SemAIMViT',
        arch='base',
        img_size=224,
        patch_size=16,
        frozen_stages=12,
        out_type='cls_token',
        final_norm=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained,
                      prefix='backbone.')),
    neck=dict(type='ClsBatchNormNeck', input_features=768),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=768,
        loss=dict(type='CrossEntropyLoss'),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=0.01)]))
