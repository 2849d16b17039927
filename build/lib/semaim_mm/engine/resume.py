"""Exact mid-epoch resume.

mmengine 0.10.7 resumes ``EpochBasedTrainLoop`` at the start of the epoch it
was in (the samples already seen in that epoch are trained on again), and
``IterBasedTrainLoop`` by loading and decoding every batch it skips. Neither
restores the global RNGs that the augmentations draw from.

Here:

* :class:`ResumableSampler` (``DefaultSampler`` + ``skip``) drops the samples
  of the current epoch already consumed, without loading them;
* :class:`ExactResumeHook` tells it how many (from the resumed iteration), and
  makes the global RNGs (python, numpy, torch) a function of
  (seed, rank, iteration): it re-seeds them after every iteration and at
  resume, so a resumed run draws the same augmentation as the uninterrupted
  one. Order noise is seeded per (seed, iteration, sample) by the model.

With ``num_workers > 0`` the data order is still exact, but augmentations run
in worker processes seeded by mmengine's ``worker_init_fn``; bit-exact resume
needs ``num_workers=0`` (see docs/reliability.md).
"""
import logging
import random
from typing import Iterator, Optional

import numpy as np
import torch
from mmengine.dataset import DefaultSampler
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import MMLogger, print_log
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
from mmpretrain.registry import DATA_SAMPLERS, HOOKS

from ..seeding import mix_seed


@DATA_SAMPLERS.register_module()
class ResumableSampler(DefaultSampler):
    """``DefaultSampler`` that can skip the first samples of one epoch.

    ``skip(n)`` makes the next ``__iter__`` start at this rank's ``n``-th
    index of the epoch's (seed, epoch)-determined order; ``__len__`` is the
    full epoch length so mmengine's iteration bookkeeping is unchanged.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._skip = 0

    def skip(self, num_samples: int, epoch: Optional[int] = None) -> None:
        """Start the next epoch iterated at sample ``num_samples`` (of this
        rank); ``epoch`` pins that epoch's order even if ``set_epoch`` is
        called in between (DistSamplerSeedHook does, with the loop's epoch,
        which IterBasedTrainLoop leaves at 0)."""
        if num_samples < 0:
            raise ValueError(f'cannot skip {num_samples} samples')
        self._skip = int(num_samples)
        self._pinned_epoch = epoch

    def __iter__(self) -> Iterator[int]:
        pinned = getattr(self, '_pinned_epoch', None)
        if pinned is not None:
            self.epoch = pinned
            self._pinned_epoch = None
        indices = list(super().__iter__())
        skip, self._skip = self._skip, 0
        return iter(indices[skip:])


class _DropOnce(logging.Filter):
    """Drop the first log record that starts with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix
        self.done = False

    def filter(self, record: logging.LogRecord) -> bool:
        if self.done or not str(record.msg).startswith(self.prefix):
            return True
        self.done = True
        return False


class _SkipFirst:
    """Iterator proxy that answers the first ``n`` ``next()`` calls with None
    (IterBasedTrainLoop's own skip loop) and then delegates."""

    def __init__(self, iterator, n: int) -> None:
        self._inner = iterator
        self._pending = n

    def __iter__(self):
        return self

    def __next__(self):
        if self._pending > 0:
            self._pending -= 1
            return None
        return next(self._inner)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def reseed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _sampler_of(dataloader):
    sampler = getattr(dataloader, 'sampler', None)
    if sampler is None or not hasattr(sampler, 'set_epoch'):
        batch_sampler = getattr(dataloader, 'batch_sampler', None)
        sampler = getattr(batch_sampler, 'sampler', sampler)
    return sampler


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Make ``--resume`` continue exactly where a killed run stopped.

    Args:
        reseed_every_iter: re-seed python/numpy/torch RNGs from
            (seed, rank, iteration) after every iteration (and at resume).
            Needed for bit-exact augmentation after resume; costs a few
            microseconds per iteration.
    """

    priority = 'LOWEST'  # after every other hook has drawn its randomness

    def __init__(self, reseed_every_iter: bool = True) -> None:
        self.reseed_every_iter = reseed_every_iter
        self._base: Optional[int] = None

    def _reseed(self, runner, iteration: int) -> None:
        if not self.reseed_every_iter:
            return
        if self._base is None:
            seed = runner.seed if runner.seed is not None else 0
            self._base = int(seed)
        rank, _ = get_dist_info()
        reseed_all(mix_seed(self._base, rank, iteration, bits=32))

    def before_train(self, runner) -> None:
        loop = runner.train_loop
        dataloader = loop.dataloader
        # DataLoader iterators draw a base seed from the global torch RNG
        # when created; give them their own generator so creating one at
        # resume does not shift the global stream.
        if getattr(dataloader, 'generator', None) is None:
            dataloader.generator = torch.Generator().manual_seed(
                int(runner.seed or 0))
        done = loop.iter
        if done > 0:
            self._position(runner, loop, dataloader, done)
        self._reseed(runner, done)

    def _position(self, runner, loop, dataloader, done: int) -> None:
        sampler = _sampler_of(dataloader)
        per_epoch = len(dataloader)
        batch_size = dataloader.batch_size or 1
        if isinstance(loop, IterBasedTrainLoop):
            epoch, offset = divmod(done, per_epoch)
        elif isinstance(loop, EpochBasedTrainLoop):
            epoch = loop.epoch
            offset = done - epoch * per_epoch
        else:
            return
        if not 0 <= offset < per_epoch:
            print_log(f'ExactResumeHook: iteration {done} does not fall in '
                      f'epoch {epoch} ({per_epoch} iterations/epoch); the '
                      'dataset size changed since the checkpoint? Resuming '
                      'at the epoch start.', logger='current', level=30)
            offset = 0
        if not isinstance(sampler, ResumableSampler):
            if offset:
                print_log(
                    f'Resuming mid-epoch (iteration {done}) with '
                    f'{type(sampler).__name__}: the data order is not '
                    'restored exactly. Use sampler=dict(type='
                    "'ResumableSampler') for exact resume.",
                    logger='current', level=30)
            return
        sampler.set_epoch(epoch)
        sampler.skip(offset * batch_size, epoch)
        if isinstance(loop, IterBasedTrainLoop):
            it = loop.dataloader_iterator
            it = getattr(it, '_inner', it)
            it._epoch = epoch
            it._iterator = iter(dataloader)  # honours the skip
            # mmengine's loop calls next() `done` times to skip batches, and
            # first says it will load them: it does not, so drop that line.
            loop.dataloader_iterator = _SkipFirst(it, done)
            MMLogger.get_current_instance().addFilter(_DropOnce(
                'Advance dataloader'))
        print_log(f'ExactResumeHook: resuming at iteration {done} = epoch '
                  f'{epoch}, batch {offset}; skipping {offset * batch_size} '
                  'samples per rank without loading them.',
                  logger='current')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        self._reseed(runner, runner.iter + 1)
