# mmpretrain's MAE on the tiny mosaic ViT (96 wide, 4 blocks, patch 8, 128x128
# canvases): the MAE initialisation of the transfer rows (Mask R-CNN / UperNet
# on Fashion-MNIST mosaics). Data, optimiser and schedule are the SemAIM mosaic
# config's, as the Fashion-MNIST MAE config does with its SemAIM config.
#   python tools/train.py configs/pretrain/mae_vit-tiny-p8_fashion-mosaic.py
_base_ = './semaim_vit-tiny-p8_fashion-mosaic.py'

model = dict(
    _delete_=True,
    type='MAE',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(
        type='MAEViT',
        arch=dict(embed_dims=96, num_layers=4, num_heads=3,
                  feedforward_channels=384),
        img_size=128,
        patch_size=8,
        mask_ratio=0.75),
    neck=dict(
        type='MAEPretrainDecoder',
        num_patches=256,
        patch_size=8,
        in_chans=3,
        embed_dim=96,
        decoder_embed_dim=96,
        decoder_depth=2,
        decoder_num_heads=3,
        mlp_ratio=4.),
    head=dict(
        type='MAEPretrainHead',
        norm_pix=True,
        patch_size=8,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])
