# The tiny mosaic Mask R-CNN fine-tuned from a SemAIM pre-trained backbone
# (configs/pretrain/semaim_vit-tiny-p8_fashion-mosaic.py) instead of random
# initialisation; everything else as the base config.
#   python tools/train.py configs/pretrain/semaim_vit-tiny-p8_fashion-mosaic.py
#   python tools/train.py configs/det/semaim_vit-tiny_mask-rcnn_fpn_fashion-mosaic_semaim-init.py
_base_ = './semaim_vit-tiny_mask-rcnn_fpn_fashion-mosaic.py'

pretrained = 'work_dirs/semaim_vit-tiny-p8_fashion-mosaic/iter_600.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(_delete_=True, type='Pretrained',
                      checkpoint=pretrained)))
