"""Named phases of a training step, for profilers and the benchmark.

``with phase('encoder'):`` opens a ``torch.profiler.record_function`` region
(named in ``torch.profiler`` traces) and, only while a :class:`PhaseTimer` is
active, adds the region's wall time to it, synchronising CUDA at both ends.
With no timer active (training) a phase costs one ``record_function``, a few
microseconds per step.

:meth:`SemAIM.loss` marks ``similarity``, ``targets``, ``encoder`` and
``decoder_head``; :func:`semaim_mm.profiling.benchmark.timed_step` adds
``backward`` and ``optimizer`` around it.
"""
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Dict, Iterator, Optional, Union

import torch

_ACTIVE: ContextVar[Optional['PhaseTimer']] = ContextVar(
    'semaim_phase_timer', default=None)


class PhaseTimer:
    """Seconds per phase of the steps run inside ``with PhaseTimer(dev):``.

    Attributes:
        seconds: ``{phase: seconds}``, summed when a phase runs again.
        total: wall time of the whole block.
    """

    def __init__(self, device: Union[str, torch.device] = 'cpu') -> None:
        self.cuda = torch.device(device).type == 'cuda'
        self.seconds: Dict[str, float] = {}
        self.total = 0.0
        self._token = None

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def __enter__(self) -> 'PhaseTimer':
        if _ACTIVE.get() is not None:
            raise RuntimeError('a PhaseTimer is already active')
        self.sync()
        self._start = time.perf_counter()
        self._token = _ACTIVE.set(self)
        return self

    def __exit__(self, *exc) -> None:
        _ACTIVE.reset(self._token)
        self.sync()
        self.total = time.perf_counter() - self._start


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Mark a phase of the training step (see the module docstring)."""
    timer = _ACTIVE.get()
    with torch.profiler.record_function(name):
        if timer is None:
            yield
            return
        timer.sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            timer.sync()
            timer.seconds[name] = (timer.seconds.get(name, 0.0)
                                   + time.perf_counter() - start)
