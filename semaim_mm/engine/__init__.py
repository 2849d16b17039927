"""Training-engine pieces: crash-safe checkpoints, exact resume, NaN guard,
preemption, the training iteration in the data samples, the work-dir lock,
the tools' config checks and Runner (readable logs, run checks)."""
from .checkpoint import (CheckpointCheckError, CheckpointSaveError,
                         SafeCheckpointHook, check_checkpoint_kind)
from .checkpoint_files import (NothingToResumeError, atomic_write_bytes,
                               checkpoint_problem, find_complete_checkpoint,
                               list_checkpoints, resume_checkpoint)
from .nonfinite import NonFiniteLossError, NonFiniteLossHook
from .preemption import PREEMPTED_EXIT, PreemptionHook
from .resume import ExactResumeHook, ResumableSampler
from .run_report import InputSizeError
from .sample_iteration import SampleIterationHook
from .runner import SemAIMRunner, build_runner
from .workdir_lock import (WorkDirBusyError, WorkDirError, WorkDirLock,
                           launch_rank)

__all__ = [
    'CheckpointCheckError', 'CheckpointSaveError', 'SafeCheckpointHook',
    'check_checkpoint_kind', 'NothingToResumeError',
    'atomic_write_bytes', 'checkpoint_problem', 'find_complete_checkpoint',
    'list_checkpoints', 'resume_checkpoint', 'NonFiniteLossError',
    'NonFiniteLossHook', 'PREEMPTED_EXIT', 'PreemptionHook',
    'ExactResumeHook', 'ResumableSampler', 'InputSizeError',
    'SampleIterationHook', 'SemAIMRunner',
    'WorkDirBusyError', 'WorkDirError', 'WorkDirLock', 'build_runner',
    'launch_rank'
]
