# Fashion-MNIST pre-training data (the embedded default): 28x28 gray images
# replicated to RGB; found via Debian's dataset-fashion-mnist, data/fashion_mnist
# or torchvision's downloader (see semaim_mm.datasets.find_fashion_mnist).
dataset_type = 'FashionMNISTDataset'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[72.94, 72.94, 72.94],
    std=[90.02, 90.02, 90.02],
    to_rgb=False)

train_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=28,
        crop_ratio_range=(0.6, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    # ResumableSampler = DefaultSampler that can resume mid-epoch exactly.
    sampler=dict(type='ResumableSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, split='train', pipeline=train_pipeline))
