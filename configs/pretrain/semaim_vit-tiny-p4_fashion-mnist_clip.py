# The tiny Fashion-MNIST SemAIM with a frozen CLIP teacher: feature targets,
# loss 2 - 2cos, order from the teacher's CLS-vs-patch similarity. The teacher
# file is an OpenAI-CLIP-style model (image tower width 64, depth 2, patch 7, 28x28, 32-d projection) saved as OpenAI's TorchScript ViT-B-16.pt.
# Write it with tools/model_converters/export_teacher.py (docs/teachers.md,
# "Tiny teachers"):
#   python tools/model_converters/export_teacher.py clip checkpoints/tiny_clip_vit_p7_28.pt --random
#   python tools/train.py configs/pretrain/semaim_vit-tiny-p4_fashion-mnist_clip.py
_base_ = [
    './semaim_vit-tiny-p4_fashion-mnist.py',
    '../_base_/models/semaim_feature-targets.py',
]

model = dict(
    _base_.feature_targets,
    target_generator=dict(
        _delete_=True,
        type='CLIPTargetGenerator',
        checkpoint='checkpoints/tiny_clip_vit_p7_28.pt',
        arch=dict(embed_dims=64, num_layers=2, num_heads=1, patch_size=7, out_dims=32)),
)
