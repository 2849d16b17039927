# ImageNet-1k linear-probe data: RandomResizedCrop 224 + flip (MAE protocol);
# validation on the VAL split.
_base_ = ['./imagenet_bs128_finetune.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=512, dataset=dict(pipeline=train_pipeline), drop_last=True)
val_dataloader = dict(batch_size=256)
test_dataloader = val_dataloader
