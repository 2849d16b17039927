# The small ViTs of the CPU configs, each written once. Variables only (no
# `model`), so that a config can list this file next to its model base
# (mmengine forbids two bases defining the same key) and merge one into its
# backbone: `backbone={{_base_.vit_tiny_p4}}`. `_delete_` makes the `arch`
# replace the base's ('base') instead of merging into it; users read single
# numbers as `{{_base_.vit_tiny_p4.arch.embed_dims}}`.

# Fashion-MNIST 28x28, patch 4 (a 7x7 grid): SemAIM / MAE pre-training,
# fine-tuning, linear probe, k-NN.
vit_tiny_p4 = dict(
    arch=dict(_delete_=True, embed_dims=128, num_layers=6, num_heads=4,
              feedforward_channels=512),
    img_size=28,
    patch_size=4)

# Fashion-MNIST mosaics (128x128 canvases, patch 8): SemAIM pre-training,
# Mask R-CNN, UperNet (sizes and patch set by those configs).
vit_tiny_p8_arch = dict(_delete_=True, embed_dims=96, num_layers=4,
                        num_heads=3, feedforward_channels=384)
