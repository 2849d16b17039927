# ImageNet-1k pre-training data: RandomResizedCrop(0.2, 1, bicubic) + flip,
# 64 images per GPU.
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    # Skips corrupt/truncated files with a counted warning (on_error='raise'
    # to fail instead); gray / RGBA / 16-bit images become 3-channel uint8.
    dict(type='SafeLoadImageFromFile', on_error='skip', max_skips=1000),
    dict(
        type='RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    # ResumableSampler = DefaultSampler that can resume mid-epoch exactly.
    sampler=dict(type='ResumableSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
