# The SemAIM paper's short COCO ablation schedule: 12.5 epochs at batch 16
# (8 GPUs x 2), otherwise the 100-epoch config. 12.5 x 118287 / 16 = 92412
# iterations; lr scaled linearly with the batch (8e-5 x 16 / 64 = 2e-5);
# warm-up 0.25 epoch (1848 iters); step decay at 88.9 % / 96.3 %.
#   bash tools/dist_train.sh configs/det/semaim_vitb_mask-rcnn_fpn_12.5e-bs16_coco.py 8
_base_ = './semaim_vitb_mask-rcnn_fpn_100e_coco.py'

max_iters = 92412
train_dataloader = dict(batch_size=2)
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
    val_interval=max_iters // 4)
optim_wrapper = dict(optimizer=dict(lr=2e-5))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=1848),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False,
         milestones=[82154, 88993], gamma=0.1),
]
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=max_iters // 4))
log_processor = dict(by_epoch=False)
auto_scale_lr = dict(base_batch_size=16, enable=False)
