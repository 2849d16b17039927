"""Training-engine pieces: crash-safe checkpoints, exact resume, NaN guard."""
from .checkpoint import (CheckpointCheckError, SafeCheckpointHook,
                         check_checkpoint_kind, checkpoint_problem,
                         find_complete_checkpoint, list_checkpoints)
from .nonfinite import NonFiniteLossError, NonFiniteLossHook
from .resume import ExactResumeHook, ResumableSampler

__all__ = [
    'CheckpointCheckError', 'SafeCheckpointHook', 'check_checkpoint_kind',
    'checkpoint_problem', 'find_complete_checkpoint', 'list_checkpoints',
    'NonFiniteLossError', 'NonFiniteLossHook', 'ExactResumeHook',
    'ResumableSampler'
]
