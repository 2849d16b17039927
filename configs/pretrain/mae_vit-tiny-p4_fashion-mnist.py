# mmpretrain's MAE with the same small ViT as the SemAIM Fashion-MNIST config:
# the comparison baseline and the stack's smoke test. Its own recipe, chosen
# on validation as SemAIM's was (configs/reproduce/fashion_mnist_short.py
# --tune: 6 trials each, lr x the crop's smallest area share, scored by FT
# 10% on 'val'; cells in docs/reproduction_cells/headline_2026-12-07/):
# lr 1.5e-3 and crops down to 0.2 of the image (77.02; SemAIM's 3e-3 / 0.6
# gave MAE 74.43). The schedule and batch are SemAIM's.
_base_ = './semaim_vit-tiny-p4_fashion-mnist.py'

train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='RandomResizedCrop', scale=28, crop_ratio_range=(0.2, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]))
optim_wrapper = dict(optimizer=dict(lr=1.5e-3))

model = dict(
    _delete_=True,
    type='MAE',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(
        type='MAEViT',
        arch={{_base_.vit_tiny_p4.arch}},
        img_size={{_base_.vit_tiny_p4.img_size}},
        patch_size={{_base_.vit_tiny_p4.patch_size}},
        mask_ratio=0.75),
    neck=dict(
        type='MAEPretrainDecoder',
        num_patches=49,  # the 7x7 grid
        patch_size={{_base_.vit_tiny_p4.patch_size}},
        in_chans=3,
        embed_dim={{_base_.vit_tiny_p4.arch.embed_dims}},
        # a 2-block decoder as wide as the encoder, its heads
        decoder_embed_dim={{_base_.vit_tiny_p4.arch.embed_dims}},
        decoder_depth=2,
        decoder_num_heads={{_base_.vit_tiny_p4.arch.num_heads}},
        mlp_ratio=4.),
    head=dict(
        type='MAEPretrainHead',
        norm_pix=True,
        patch_size={{_base_.vit_tiny_p4.patch_size}},
        loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])
