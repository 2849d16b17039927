# Weighted k-NN of the tiny Fashion-MNIST SemAIM ViT: bank = train without
# the validation hold-out ('train_minus_val'), queries = the 'val' hold-out
# (the matrix's final cells query the test split), no augmentation.
#   python tools/knn_eval.py configs/benchmarks/knn/vit-tiny-p4_knn_fashion-mnist.py CKPT
_base_ = [
    '../../_base_/models/semaim_vit-tiny-p4.py',
    '../../_base_/datasets/fashion_mnist_cls.py',
]
default_scope = 'mmpretrain'
custom_imports = dict(imports=['semaim_mm.datasets'],
                      allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='ImageClassifier',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone={{_base_.model.backbone}},  # the pre-training encoder
    neck=None,
    head=None)
knn = dict(
    ks=(10, 20, 30),
    temperature=0.07,
    feature='gap',
    batch_size=512,
    num_workers=0,
    bank_dataset=dict(type={{_base_.dataset_type}}, split='train_minus_val',
                      pipeline={{_base_.test_pipeline}}),
    query_dataset=dict(type={{_base_.dataset_type}}, split='val',
                       pipeline={{_base_.test_pipeline}}))
