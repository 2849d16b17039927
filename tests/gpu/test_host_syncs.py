"""What a GPU step no longer waits for on the host: the non-finite-loss
check where the optimizer wrapper skips such steps itself, the order
noise's copy, and the CPU allocator settings (left alone where CUDA is in
use)."""
from types import SimpleNamespace
from unittest import mock

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from semaim_mm import cpu_malloc
from semaim_mm.engine.nonfinite import (NonFiniteLossError, NonFiniteLossHook,
                                        skips_nonfinite_steps)
from semaim_mm.models.orders import draw_noise


def runner_with(wrapper, max_iters=100):
    hub = SimpleNamespace(get_info=lambda key: 'iter_0.pth')
    return SimpleNamespace(optim_wrapper=wrapper, iter=0, epoch=0,
                           max_iters=max_iters, message_hub=hub)


def scaled_wrapper():
    """A wrapper whose GradScaler skips non-finite steps (enabled on CPU
    here, as AmpOptimWrapper's is on a GPU); records each update."""
    updates = []
    return SimpleNamespace(loss_scaler=torch.amp.GradScaler('cpu'),
                           update_params=lambda loss: updates.append(loss),
                           clip_grad_kwargs={}, cast_dtype=torch.bfloat16,
                           updates=updates)


def run(hook, runner, losses):
    for it, loss in enumerate(losses):
        runner.iter = it
        runner.optim_wrapper.update_params(torch.tensor(loss))
        hook.after_train_iter(runner, it)


def test_deferred_check_reads_the_flags_once_per_sync_interval():
    wrapper = scaled_wrapper()
    assert skips_nonfinite_steps(wrapper)
    hook = NonFiniteLossHook(sync_interval=5)
    runner = runner_with(wrapper)
    hook.before_train(runner)
    assert hook.deferred
    reads, tolist = [], torch.Tensor.tolist

    def counted(self):
        reads.append(1)
        return tolist(self)

    with mock.patch.object(NonFiniteLossHook, '_all_finite',
                           side_effect=AssertionError('per-step sync')), \
            mock.patch.object(torch.Tensor, 'tolist', counted):
        run(hook, runner, [1.0, 2.0, 3.0, 4.0, 5.0])
        assert reads == [1]  # the read at iteration 5
        with pytest.raises(NonFiniteLossError,
                           match=r'at 2 step\(s\) in iterations 7-9; the '
                           'optimizer wrapper skipped'):
            run(hook, runner, [1.0] * 6 + [float('nan'), 1.0,
                                           float('inf'), 1.0])
    assert len(wrapper.updates) == 5 + 10  # every step reached the wrapper


def test_deferred_skip_counts_and_stops_at_max_skips():
    hook = NonFiniteLossHook(action='skip', max_skips=3, sync_interval=4)
    runner = runner_with(scaled_wrapper())
    hook.before_train(runner)
    run(hook, runner, [float('nan'), 1.0, 1.0, 1.0])
    assert hook.skipped == 1
    with pytest.raises(NonFiniteLossError, match='3 steps in iterations 1-3'):
        run(hook, runner, [float('nan')] * 3 + [1.0])


def test_plain_wrapper_keeps_the_per_step_check():
    wrapper = SimpleNamespace(update_params=lambda loss: None,
                              clip_grad_kwargs={}, cast_dtype=None)
    hook = NonFiniteLossHook()
    runner = runner_with(wrapper)
    hook.before_train(runner)
    assert not hook.deferred and not skips_nonfinite_steps(wrapper)
    with pytest.raises(NonFiniteLossError, match='iteration 2'):
        run(hook, runner, [1.0, float('nan')])


def test_order_noise_is_copied_from_pinned_memory_without_blocking():
    pinned, copies = [], []
    to = torch.Tensor.to

    def record_to(self, *args, **kwargs):
        copies.append(kwargs.get('non_blocking', False))
        return to(self, *args, **kwargs)

    with FakeTensorMode(), \
            mock.patch.object(torch.Tensor, 'pin_memory',
                              lambda self: pinned.append(1) or self), \
            mock.patch.object(torch.Tensor, 'to', record_to):
        noise = draw_noise([1, 2], 16, 'cuda')
    assert noise.device.type == 'cuda' and pinned == [1]
    assert copies == [True]
    cpu = draw_noise([1, 2], 16, 'cpu')
    torch.testing.assert_close(cpu, draw_noise([1, 2], 16))


def test_keep_freed_memory_only_without_cuda(monkeypatch):
    monkeypatch.setattr(cpu_malloc, '_applied', None)
    monkeypatch.setattr(cpu_malloc, 'user_chose_allocator', lambda: False)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    with mock.patch('ctypes.CDLL') as libc:
        assert cpu_malloc.keep_freed_memory() is False
    libc.assert_not_called()
