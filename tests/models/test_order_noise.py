"""The order noise is seeded by (seed, iteration, sample index), both read
from the data samples: SampleIterationHook writes the iteration there."""
from types import SimpleNamespace

import pytest
import torch
from mmpretrain.structures import DataSample

from semaim_mm.engine import SampleIterationHook

from .helpers import images, tiny_semaim


def samples(idx, iteration=None):
    meta = [dict(sample_idx=i) for i in idx]
    if iteration is not None:
        for m in meta:
            m['iteration'] = iteration
    return [DataSample(metainfo=m) for m in meta]


def test_hook_writes_the_runner_iteration_into_every_sample():
    batch = dict(inputs=None, data_samples=samples([3, 4]))
    SampleIterationHook().before_train_iter(SimpleNamespace(iter=17), 0,
                                            batch)
    assert [s.iteration for s in batch['data_samples']] == [17, 17]
    # batches without data samples pass unchanged
    SampleIterationHook().before_train_iter(SimpleNamespace(iter=1), 0,
                                            dict(inputs=None))


def test_noise_follows_iteration_and_sample_not_batch():
    model = tiny_semaim(32, 8, order='stochastic')
    x = images(2, (32, 32))
    perm = model.make_permutation(x, samples([5, 9], iteration=2)).perm
    again = model.make_permutation(x, samples([5, 9], iteration=2)).perm
    later = model.make_permutation(x, samples([5, 9], iteration=3)).perm
    alone = model.make_permutation(x[1:], samples([9], iteration=2)).perm
    assert torch.equal(perm, again)
    assert not torch.equal(perm[0], later[0])
    assert torch.equal(perm[1], alone[0])


def test_samples_without_the_iteration_are_an_error_naming_the_hook():
    model = tiny_semaim(32, 8)
    with pytest.raises(ValueError, match='SampleIterationHook'):
        model.loss(images(2, (32, 32)), samples([0, 1]))
