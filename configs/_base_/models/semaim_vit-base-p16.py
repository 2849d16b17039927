# SemAIM ViT-B/16: 12-block encoder, cross-attention decoder as deep and as
# wide as the encoder (12 x 768), semantic order from the CLS similarity,
# blurred norm-pix RGB target. SemAIM fills the decoder depth, widths and
# heads, the head width and the target's patch size from the backbone.
model = dict(
    type='SemAIM',
    backbone=dict(
        type='SemAIMViT', arch='base', img_size=224, patch_size=16,
        drop_path_rate=0.0),
    neck=dict(type='SemAIMDecoder', tap='after'),
    head=dict(
        type='SemAIMHead',
        loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    target_generator=dict(
        type='RGBTargetGenerator', blur_kernel=9, blur_sigma=1.0,
        norm_pix=True),
    order='semantic',  # paper: 3x3 mean filter, lambda 0.01 (the defaults)
    similarity_source='cls',
    attention_path='fast',
)
