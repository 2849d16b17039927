"""Stop (or skip the step) on a NaN/Inf loss, before it reaches the weights.

Same semantics as mmdet's ``CheckInvalidLossHook`` (check the training loss
every ``interval`` iterations, stop when it is not finite), which cannot be
subclassed here: pre-training must not import mmdet. The check runs before
``backward``/``step`` instead of after, so the weights stay finite, and can
skip the step instead of stopping.

Where the optimizer wrapper skips non-finite steps itself (an enabled
``GradScaler``: ``AmpOptimWrapper`` on a GPU), the per-step check would only
add a host sync (and an all-reduce) to every step: there the flags are
accumulated on the device and read every ``sync_interval`` iterations.
"""
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.dist import get_world_size, is_distributed
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmpretrain.registry import HOOKS


class NonFiniteLossError(FloatingPointError):
    """Training stopped on a NaN/Inf loss."""


def nonfinite_fixes(wrapper) -> str:
    """What to change against NaN/Inf losses, given the optimizer wrapper
    in use (no advice to enable what is already on)."""
    fixes = ['lower the learning rate']
    clip = getattr(wrapper, 'clip_grad_kwargs', None)
    if clip:
        fixes.append(f'clip gradients harder (optim_wrapper.clip_grad is '
                     f'{dict(clip)})')
    else:
        fixes.append('enable optim_wrapper.clip_grad=dict(max_norm=3.0)')
    if getattr(wrapper, 'cast_dtype', 0) in (None, torch.float16):
        fixes.append("train in bf16 (optim_wrapper.dtype='bfloat16') or "
                     'fp32 instead of fp16')
    fixes.append('check the input data')
    return ', '.join(fixes)


def skips_nonfinite_steps(wrapper) -> bool:
    """Whether ``wrapper`` drops a step with non-finite gradients itself:
    an enabled ``GradScaler`` (``AmpOptimWrapper`` where CUDA is in use;
    in DDP the gradients are all-reduced, so every rank skips alike)."""
    scaler = getattr(wrapper, 'loss_scaler', None)
    return scaler is not None and scaler.is_enabled()


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Check the loss of every ``interval``-th step before
    ``backward``/``step``.

    The check wraps ``runner.optim_wrapper.update_params`` (called by
    ``train_step`` of every mmengine model and DDP wrapper), so a non-finite
    loss never updates the weights. In distributed runs the ranks agree (one
    all-reduce of a flag) so they all stop or all skip together.

    Args:
        interval: check every ``interval`` iterations (``CheckInvalidLossHook``
            semantics); 1 (default) keeps every update finite.
        action: ``'stop'`` (default): raise :class:`NonFiniteLossError`
            naming the iteration; nothing is saved, the last checkpoint in
            ``work_dir`` stays the latest. ``'skip'``: drop this step (no
            backward, no optimizer step), warn, and count.
        max_skips: with ``action='skip'``, stop after this many
            consecutive skipped steps (0 = never).
        sync_interval: with a wrapper that skips non-finite steps itself
            (:func:`skips_nonfinite_steps`), read the device-side flags
            every this many iterations (and at the end of training) instead
            of every step; ``'stop'`` then stops at that read, naming the
            iterations, with the weights still finite (the wrapper skipped
            those updates), and ``max_skips`` counts the non-finite steps
            within one read.
    """

    priority = 'VERY_HIGH'

    def __init__(self, interval: int = 1, action: str = 'stop',
                 max_skips: int = 10, sync_interval: int = 50) -> None:
        if action not in ('stop', 'skip'):
            raise ValueError(f"action must be 'stop' or 'skip', got "
                             f'{action!r}')
        if max_skips < 0:
            raise ValueError(f'max_skips must be >= 0, got {max_skips}')
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        if sync_interval < 1:
            raise ValueError(f'sync_interval must be >= 1, got '
                             f'{sync_interval}')
        self.interval = interval
        self.sync_interval = sync_interval
        self.deferred = False
        self._flags: Optional[torch.Tensor] = None
        self.action = action
        self.max_skips = max_skips
        self.skipped = 0
        self.consecutive = 0
        self._runner = None

    def before_train(self, runner) -> None:
        self._runner = runner
        wrapper = runner.optim_wrapper
        if not hasattr(wrapper, 'update_params') or getattr(
                wrapper.update_params, '_semaim_nonfinite', False):
            return
        original = wrapper.update_params
        hook = self
        self.deferred = skips_nonfinite_steps(wrapper)

        def update_params(loss, *args, **kwargs):
            if hook.deferred:
                hook._record(loss, runner.iter + 1)
                return original(loss, *args, **kwargs)
            if not hook.every_n_train_iters(runner, hook.interval) or \
                    hook._all_finite(loss):
                hook.consecutive = 0
                return original(loss, *args, **kwargs)
            return hook._on_non_finite(wrapper, loss)

        update_params._semaim_nonfinite = True
        wrapper.update_params = update_params

    @staticmethod
    def _all_finite(loss) -> bool:
        ok = torch.isfinite(loss.detach()).all().float().reshape(1)
        if is_distributed() and get_world_size() > 1:
            ok = ok.to('cuda' if torch_dist.get_backend() == 'nccl'
                       else 'cpu')
            torch_dist.all_reduce(ok, op=torch_dist.ReduceOp.MIN)
        return bool(ok.item() > 0)

    def _record(self, loss, it: int) -> None:
        """Count a non-finite loss on the loss's device, no host sync:
        flags = (count, first iteration, last iteration)."""
        bad = ~torch.isfinite(loss.detach()).all()
        if self._flags is None:
            self._flags = torch.tensor([0, 2**62, -1], device=loss.device)
        count, first, last = self._flags.unbind()
        self._flags = torch.stack([
            count + bad.long(),
            torch.where(bad, first.clamp(max=it), first),
            torch.where(bad, last.clamp(min=it), last)])

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if self.deferred and (
                self.every_n_train_iters(runner, self.sync_interval)
                or self.is_last_train_iter(runner)):
            self._read_flags()

    def after_train(self, runner) -> None:
        if self.deferred:
            self._read_flags()

    def _read_flags(self) -> None:
        """The deferred check: one host read (and all-reduce) of the flags
        accumulated since the last one."""
        if self._flags is None:
            return
        flags = self._flags * torch.tensor([1, -1, 1],
                                           device=self._flags.device)
        self._flags = None
        if is_distributed() and get_world_size() > 1:
            torch_dist.all_reduce(flags, op=torch_dist.ReduceOp.MAX)
        count, first, last = flags.tolist()
        if not count:
            return
        first = -first
        where = (f'iteration {first}' if first == last else
                 f'iterations {first}-{last}')
        fixes = nonfinite_fixes(self._runner.optim_wrapper)
        if self.action == 'skip':
            self.skipped += count
            print_log(
                f'NonFiniteLossHook: loss was NaN/Inf at {count} step(s) in '
                f'{where}; the optimizer wrapper skipped them '
                f'({self.skipped} skipped so far).', logger='current',
                level=30)
            if self.max_skips and count >= self.max_skips:
                raise NonFiniteLossError(
                    f'Loss was non-finite at {count} steps in {where}; '
                    'training stopped. Last good checkpoint: '
                    f'{self._last_ckpt()}. Fix: {fixes}; then resume with '
                    '--resume.')
            return
        raise NonFiniteLossError(
            f'Loss was NaN/Inf at {count} step(s) in {where}; the optimizer '
            'wrapper skipped those updates, so the weights are finite; '
            'training stopped. Last good checkpoint: '
            f'{self._last_ckpt()}. Fix: {fixes}; then resume with --resume. '
            "To skip such steps instead, set NonFiniteLossHook action='skip' "
            'in custom_hooks.')

    def _where(self) -> str:
        runner = self._runner
        it = runner.iter + 1 if runner is not None else '?'
        ep = runner.epoch + 1 if runner is not None else '?'
        return f'iteration {it} (epoch {ep})'

    def _last_ckpt(self) -> Optional[str]:
        runner = self._runner
        if runner is None:
            return None
        return runner.message_hub.get_info('last_ckpt')

    def _on_non_finite(self, wrapper, loss) -> None:
        value = loss.detach().float().reshape(-1)[0].item()
        where = self._where()
        fixes = nonfinite_fixes(wrapper)
        if self.action == 'skip':
            self.skipped += 1
            self.consecutive += 1
            wrapper.zero_grad()
            if hasattr(wrapper, '_inner_count'):
                wrapper._inner_count += 1
            print_log(
                f'NonFiniteLossHook: loss is {value} at {where}; step '
                f'skipped ({self.skipped} skipped so far, {self.consecutive} '
                'in a row).', logger='current', level=30)
            if self.max_skips and self.consecutive >= self.max_skips:
                raise NonFiniteLossError(
                    f'Loss was non-finite for {self.consecutive} steps in a '
                    f'row, last at {where}; training stopped. Last good '
                    f'checkpoint: {self._last_ckpt()}. Fix: {fixes}; then '
                    'resume with --resume.')
            return None
        raise NonFiniteLossError(
            f'Loss is {value} at {where} (NaN/Inf); training stopped before '
            'the weights were updated. Last good checkpoint: '
            f'{self._last_ckpt()} (nothing newer was saved). Fix: {fixes}; '
            'then resume with --resume. To skip such steps instead, set '
            "NonFiniteLossHook action='skip' in custom_hooks.")
