# The tiny SemAIM of the CPU configs: the ViT-B/16 model
# (semaim_vit-base-p16.py) with the tiny ViT of vit-tiny_archs.py (width 128,
# 6 blocks, 4 heads, 28x28 images, patch 4: a 7x7 grid); the decoder is as
# deep as the encoder. SemAIM fills the decoder depth, widths and heads, the
# head width and the target's patch size from the backbone.
_base_ = ['./semaim_vit-base-p16.py', './vit-tiny_archs.py']

model = dict(backbone={{_base_.vit_tiny_p4}})
