"""Class-balanced label subsets (the semi-supervised 1% / 10% protocol).

``dict(type='ClassBalancedSubset', dataset=dict(...), fraction=0.1, seed=0)``
in a dataset config keeps the same number of images of every class, drawn
with a generator seeded by ``seed`` (the same seed gives the same images).
It returns the wrapped dataset's own class (``BaseDataset.get_subset``), so
pipelines, metainfo and samplers work unchanged; the kept indices are in
``subset_indices``. Works for any mmpretrain dataset with ``gt_label``
(Fashion-MNIST, ImageNet).
"""
from typing import Optional, Union

import numpy as np
from mmpretrain.registry import DATASETS


def balanced_indices(labels: np.ndarray, per_class: int,
                     seed: int) -> np.ndarray:
    """Sorted indices of ``per_class`` random items of every class in
    ``labels`` (classes in increasing order, one generator for all)."""
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < per_class:
            raise ValueError(
                f'class {int(c)} has {len(idx)} items, fewer than the '
                f'{per_class} per class a balanced subset needs: lower '
                'fraction / num_per_class')
        keep.append(rng.permutation(idx)[:per_class])
    return np.sort(np.concatenate(keep))


@DATASETS.register_module(name='ClassBalancedSubset')
def class_balanced_subset(dataset: Union[dict, object],
                          fraction: Optional[float] = None,
                          num_per_class: Optional[int] = None,
                          seed: int = 0):
    """The same number of images per class from ``dataset``.

    Args:
        dataset: a dataset or its config (normally the TRAIN split).
        fraction: of the whole dataset; per class ``round(fraction * N / C)``
            (C = number of classes present).
        num_per_class: instead of ``fraction``.
        seed: draws the subset; fixed seed = fixed subset.
    """
    if (fraction is None) == (num_per_class is None):
        raise ValueError('ClassBalancedSubset needs exactly one of fraction '
                         'and num_per_class')
    if isinstance(dataset, dict):
        dataset = DATASETS.build(dataset)
    dataset.full_init()
    labels = np.asarray(dataset.get_gt_labels()).astype(np.int64)
    if num_per_class is None:
        if not 0 < fraction <= 1:
            raise ValueError(f'fraction must be in (0, 1], got {fraction}')
        num_per_class = max(1, int(round(
            fraction * len(labels) / len(np.unique(labels)))))
    indices = balanced_indices(labels, int(num_per_class), seed)
    subset = dataset.get_subset(indices.tolist())
    subset.subset_indices = indices
    return subset
