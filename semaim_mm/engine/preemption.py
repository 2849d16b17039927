"""Save a checkpoint and stop when the job scheduler preempts the run.

Slurm sends SIGTERM to a preempted or timed-out job and SIGKILL after its
grace period (``KillWait``, 30 s by default); ``sbatch/srun --signal=USR1@120``
sends SIGUSR1 that many seconds before the end. Without a handler the
process dies at once and loses everything since the last checkpoint.

:class:`PreemptionHook` (registered by the tools' Runner; a config may list
its own in ``custom_hooks``) turns those signals into: finish the iteration
in progress, save ``iter_N.pth`` of it atomically (``last_checkpoint`` names
it), log one line, and exit with :data:`PREEMPTED_EXIT`.
``--resume`` / ``--resume-or-start`` then continues exactly from it
(:class:`~semaim_mm.engine.ExactResumeHook`). Distributed ranks agree on
the stop through one all-reduce per iteration, so all save the same
iteration even if the signal reached them at different times.
"""
import signal
from typing import Dict, Optional, Sequence

import torch
from mmengine.dist import all_reduce, barrier, get_world_size
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmpretrain.registry import HOOKS

from .checkpoint import SafeCheckpointHook, save_atomically

# sysexits.h EX_TEMPFAIL: "a temporary failure; the user is invited to
# retry" -- a job script can requeue on it.
PREEMPTED_EXIT = 75


@HOOKS.register_module()
class PreemptionHook(Hook):
    """On one of ``signals``, save the current iteration and exit.

    Args:
        signals: signal names to handle (default SIGTERM and SIGUSR1).
        exit_code: the process's exit status after the save
            (:data:`PREEMPTED_EXIT`).
    """

    priority = 'LOWEST'  # after the regular checkpoint of this iteration

    def __init__(self, signals: Sequence[str] = ('SIGTERM', 'SIGUSR1'),
                 exit_code: int = PREEMPTED_EXIT) -> None:
        unknown = [s for s in signals if not hasattr(signal, str(s))]
        if unknown:
            raise ValueError(f'PreemptionHook: unknown signals {unknown}')
        self.signals = tuple(signals)
        self.exit_code = exit_code
        self._received = 0
        self._previous: Dict[int, object] = {}

    def _on_signal(self, signum, frame) -> None:
        self._received = signum  # acted on between iterations
        # Slurm signals every process of the job, data-loader workers too:
        # torch's SIGCHLD handler would raise on their exit before this
        # iteration ends and is saved.
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)

    def before_train(self, runner) -> None:
        self._received = 0
        for name in self.signals:
            num = getattr(signal, name)
            try:
                self._previous[num] = signal.signal(num, self._on_signal)
            except ValueError:  # not the main thread: leave it alone
                return

    def after_train(self, runner) -> None:
        self.restore()

    def restore(self) -> None:
        """Put back the handlers :meth:`before_train` replaced (also called
        by the tools' Runner when training ends in an exception)."""
        for num, handler in self._previous.items():
            signal.signal(num, handler)
        self._previous.clear()

    def _agreed_signal(self) -> int:
        if get_world_size() == 1:
            return self._received
        flag = torch.tensor([self._received], dtype=torch.int64)
        all_reduce(flag, op='max')
        return int(flag.item())

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        signum = self._agreed_signal()
        if not signum:
            return
        path = self._save(runner)
        # no rank exits while rank 0 still writes (srun --kill-on-bad-exit
        # would kill it)
        barrier()
        self.restore()
        name = signal.Signals(signum).name
        print_log(f'{name}: saved iteration {runner.iter + 1} of '
                  f'{runner.max_iters} to {path}; exiting with status '
                  f'{self.exit_code} (continue with --resume or '
                  '--resume-or-start).', logger='current', level=30)
        raise SystemExit(self.exit_code)

    @staticmethod
    def _save(runner) -> Optional[str]:
        """The checkpoint of the iteration just finished: the regular one
        if it was saved at this iteration, else ``iter_N.pth``."""
        step = runner.iter + 1
        hook = next((h for h in runner.hooks
                     if isinstance(h, CheckpointHook)), None)
        if isinstance(hook, SafeCheckpointHook) and not hook.by_epoch:
            if str(hook.last_ckpt) != str(hook._path(step)):
                hook._save_checkpoint(runner)
            return str(hook.last_ckpt)
        filename = f'iter_{step}.pth'
        if isinstance(hook, SafeCheckpointHook):
            return hook.write(runner, filename, None, by_epoch=False)
        return save_atomically(runner, runner.work_dir, filename,
                               by_epoch=False)
