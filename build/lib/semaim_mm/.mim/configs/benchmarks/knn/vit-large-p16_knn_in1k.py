_base_ = ['./vit-base-p16_knn_in1k.py']
model = dict(backbone=dict(arch='large'))
