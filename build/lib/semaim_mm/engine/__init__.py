"""Training-engine pieces: crash-safe checkpoints, exact resume, NaN guard,
the work-dir lock, and the tools' Runner (readable logs, run checks)."""
from .checkpoint import (CheckpointCheckError, SafeCheckpointHook,
                         check_checkpoint_kind, checkpoint_kind)
from .checkpoint_files import (NothingToResumeError, atomic_write_bytes,
                               checkpoint_problem, find_complete_checkpoint,
                               list_checkpoints, resume_checkpoint)
from .nonfinite import NonFiniteLossError, NonFiniteLossHook
from .resume import ExactResumeHook, ResumableSampler
from .run_report import InputSizeError
from .runner import SemAIMRunner, build_runner
from .workdir_lock import WorkDirBusyError, WorkDirLock, launch_rank

__all__ = [
    'CheckpointCheckError', 'SafeCheckpointHook', 'check_checkpoint_kind',
    'checkpoint_kind', 'NothingToResumeError', 'atomic_write_bytes',
    'checkpoint_problem', 'find_complete_checkpoint', 'list_checkpoints',
    'resume_checkpoint', 'NonFiniteLossError', 'NonFiniteLossHook',
    'ExactResumeHook', 'ResumableSampler', 'InputSizeError', 'SemAIMRunner',
    'WorkDirBusyError', 'WorkDirLock', 'build_runner', 'launch_rank'
]
