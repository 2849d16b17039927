# SemAIM ViT-B/16 ImageNet-1k weighted k-NN (cosine, T = 0.07, k = 10/20/30):
#   python tools/knn_eval.py configs/benchmarks/knn/vit-base-p16_knn_in1k.py CKPT
#   bash tools/dist_test.sh ... (or torchrun tools/knn_eval.py ... --launcher pytorch)
# The bank is the TRAIN split, queries the VAL split, both with the
# validation pipeline (resize 256, centre crop 224).
_base_ = ['../../_base_/datasets/imagenet_bs128_finetune.py']
default_scope = 'mmpretrain'
custom_imports = dict(imports=['semaim_mm.datasets'],
                      allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(type='SemAIMViT', arch='base', img_size=224,
                  patch_size=16),
    neck=None,
    head=None)
knn = dict(
    ks=(10, 20, 30),
    temperature=0.07,
    feature='gap',  # 'cls', 'gap' or 'cls_gap'
    batch_size=256,
    num_workers=8,
    bank_dataset=dict(type={{_base_.dataset_type}},
                      data_root={{_base_.data_root}}, split='train',
                      pipeline={{_base_.test_pipeline}}),
    query_dataset=dict(type={{_base_.dataset_type}},
                       data_root={{_base_.data_root}}, split='val',
                       pipeline={{_base_.test_pipeline}}))
