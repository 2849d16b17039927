"""A tiny mmengine setup (toy model + randomly augmented toy data) that runs
the reliability hooks in-process in a fraction of a second per run."""
import random

import numpy as np
import torch
from mmengine.logging import MessageHub
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import semaim_mm  # noqa: F401


class ToyData(Dataset):
    """20 samples; augmentation draws from numpy and python RNGs."""

    def __init__(self, n=20):
        g = np.random.RandomState(0)
        self.x = g.rand(n, 4).astype(np.float32)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, idx):
        x = self.x[idx] + 0.1 * np.random.rand(4).astype(np.float32)
        x = x * (1.0 + 0.01 * random.random())
        return dict(inputs=torch.from_numpy(x.astype(np.float32)),
                    data_samples=torch.tensor(float(idx)))


class ToyModel(BaseModel):
    """Linear regression with dropout (draws from the torch RNG)."""

    def __init__(self, nan_at=()):
        super().__init__()
        self.lin = torch.nn.Linear(4, 1)
        self.nan_at = set(nan_at)

    def forward(self, inputs, data_samples=None, mode='loss'):
        x = torch.nn.functional.dropout(inputs, 0.2, training=self.training)
        loss = ((self.lin(x).squeeze(-1) - data_samples / 20)**2).mean()
        it = MessageHub.get_current_instance().get_info('iter')
        if it in self.nan_at:
            loss = loss * float('nan')
        return dict(loss=loss)


class Record(Hook):
    priority = 'HIGHEST'

    def __init__(self, losses, stop_at=None):
        self.losses, self.stop_at = losses, stop_at

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.losses[runner.iter] = float(outputs['loss'])

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self.stop_at is not None and runner.iter == self.stop_at:
            raise KeyboardInterrupt('simulated crash')


def make_runner(work_dir, losses, *, epochs=None, iters=None,
                ckpt_interval=3, by_epoch_ckpt=False, resume=False,
                load_from=None, stop_at=None, nan_at=(), nan_action='stop',
                max_keep=2, sampler='ResumableSampler', extra_hooks=(),
                runner_cls=Runner):
    if epochs:
        train_cfg = dict(by_epoch=True, max_epochs=epochs)
    else:
        train_cfg = dict(by_epoch=False, max_iters=iters)
    torch.manual_seed(0)  # the model is built before Runner seeds anything
    return runner_cls(
        model=ToyModel(nan_at),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyData(),
            sampler=dict(type=sampler, shuffle=True),
            batch_size=3,
            num_workers=0,
            collate_fn=dict(type='default_collate')),
        train_cfg=train_cfg,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1,
                                          momentum=0.9)),
        default_hooks=dict(
            checkpoint=dict(type='SafeCheckpointHook',
                            interval=ckpt_interval, by_epoch=by_epoch_ckpt,
                            max_keep_ckpts=max_keep),
            logger=dict(type='LoggerHook', interval=1000)),
        custom_hooks=[
            dict(type='ExactResumeHook'),
            dict(type='NonFiniteLossHook', action=nan_action, max_skips=3),
            Record(losses, stop_at), *extra_hooks
        ],
        randomness=dict(seed=7, deterministic=False),
        default_scope='mmpretrain',
        resume=resume,
        load_from=load_from,
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        log_level='WARNING',
    )
