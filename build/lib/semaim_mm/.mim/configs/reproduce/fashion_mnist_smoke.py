# The full matrix with tiny budgets: checks every row, column and the
# transfer stages end to end in minutes per stage (numbers are meaningless).
#   python tools/reproduce.py configs/reproduce/fashion_mnist_smoke.py \
#       --only semantic,scratch --seeds 0
_base_ = './fashion_mnist.py'

work_dir = 'work_dirs/reproduce_smoke'
title = 'Reproduction matrix, smoke run (tiny budgets; numbers meaningless)'
# Batch 32 on small label subsets keeps >= 10 iterations per epoch (the
# scaled warm-up is then at least one iteration).
_SMALL = {'val_dataloader.dataset.indices': 300,
          'train_dataloader.batch_size': 32}

pretrain = dict(images=64 * 4)
columns = dict(
    ft_1pct=dict(epochs=1, label_fraction=0.005,
                 overrides=dict(_SMALL,
                                **{'train_dataloader.batch_size': 16})),
    ft_10pct=dict(epochs=1, label_fraction=0.01, overrides=_SMALL),
    ft_full=dict(epochs=1, label_fraction=0.02, overrides=_SMALL),
    knn=dict(label_fraction=0.01,
             overrides={'knn.query_dataset.indices': 300}),
    linear=dict(epochs=1, label_fraction=0.01, overrides=_SMALL),
    det=dict(iters=10, overrides={'val_dataloader.dataset.indices': 10}),
    seg=dict(iters=10, overrides={'val_dataloader.dataset.indices': 10}),
)
rows = dict(mosaic_mae=dict(images=32 * 4),
            mosaic_semantic=dict(images=32 * 4))
budget_curve = dict(images=[64 * 2, 64 * 8])
