# SemAIM ViT-B/16: 12-block encoder, 12-block cross-attention decoder (width
# 768), semantic order from the CLS similarity, blurred norm-pix RGB target.
model = dict(
    type='SemAIM',
    backbone=dict(
        type='SemAIMViT', arch='base', img_size=224, patch_size=16,
        drop_path_rate=0.0),
    neck=dict(type='SemAIMDecoder', num_heads=12, depth=12, tap='after'),
    head=dict(
        type='SemAIMHead',
        embed_dims=768,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    target_generator=dict(
        type='RGBTargetGenerator', patch_size=16, blur_kernel=9,
        blur_sigma=1.0, norm_pix=True),
    order=dict(type='semantic', lam=0.01, filter_size=3),
    similarity_source='cls',
    attention_path='fast',
)
