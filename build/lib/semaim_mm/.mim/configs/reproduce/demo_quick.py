# `python tools/demo.py --quick`: every step of the demo in about a minute
# (tiny budgets and subsets; the numbers only show that the pipeline runs).
# Batch 16 on the small label subsets keeps >= 10 iterations per epoch, so
# the scaled warm-up (a tenth of the run) is at least one iteration.
_base_ = './demo.py'

# One intra-op thread: these stages are too small to gain from two.
torch_threads = 1
title = 'SemAIM demo on Fashion-MNIST (--quick smoke run: tiny budgets)'
_SMALL = {'val_dataloader.dataset.indices': 200,
          'train_dataloader.batch_size': 16}

pretrain = dict(images=64 * 2)
columns = dict(
    ft_10pct=dict(label_fraction=0.005, epochs=1, overrides=_SMALL),
    knn=dict(label_fraction=0.01,
             overrides={'knn.query_dataset.indices': 200}),
    linear=dict(label_fraction=0.005, epochs=1, overrides=_SMALL),
)
