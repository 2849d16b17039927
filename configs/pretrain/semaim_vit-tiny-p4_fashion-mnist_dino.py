# The tiny Fashion-MNIST SemAIM with a frozen DINO teacher: feature targets,
# loss 2 - 2cos, order from the teacher's CLS-vs-patch similarity. The teacher
# file is a DINO-style ViT (width 64, depth 2, patch 7, 28x28) saved as DINO saves dino_vitbase16_pretrain.pth.
# Write it with tools/model_converters/export_teacher.py (docs/teachers.md,
# "Tiny teachers"):
#   python tools/model_converters/export_teacher.py dino checkpoints/tiny_dino_vit_p7_28.pth --random
#   python tools/train.py configs/pretrain/semaim_vit-tiny-p4_fashion-mnist_dino.py
_base_ = [
    './semaim_vit-tiny-p4_fashion-mnist.py',
    '../_base_/models/semaim_feature-targets.py',
]

model = dict(
    _base_.feature_targets,
    target_generator=dict(
        _delete_=True,
        type='DINOTargetGenerator',
        checkpoint='checkpoints/tiny_dino_vit_p7_28.pth',
        arch=dict(embed_dims=64, num_layers=2, num_heads=2, patch_size=7)),
)
