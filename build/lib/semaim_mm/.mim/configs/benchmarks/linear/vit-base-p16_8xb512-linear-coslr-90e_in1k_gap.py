# The linear probe on the average of the patch tokens (GAP) instead of CLS.
_base_ = ['./vit-base-p16_8xb512-linear-coslr-90e_in1k.py']
model = dict(backbone=dict(out_type='avg_featmap'))
