"""Phase regions of SemAIM.loss: off by default, timed under a PhaseTimer,
named in torch.profiler traces."""
import pytest
import torch

from semaim_mm.profiling.phases import PhaseTimer, phase

from .helpers import images, tiny_semaim

LOSS_PHASES = {'similarity', 'targets', 'encoder', 'decoder_head'}


def test_no_timer_records_nothing_and_timers_do_not_nest():
    with phase('anything'):
        pass
    with PhaseTimer() as timer:
        with phase('a'):
            pass
        with phase('a'):
            pass
        with pytest.raises(RuntimeError, match='already active'):
            with PhaseTimer():
                pass
    assert set(timer.seconds) == {'a'} and timer.total >= timer.seconds['a']
    with phase('outside'):
        pass
    assert set(timer.seconds) == {'a'}


def test_loss_phases_in_a_profiler_trace():
    model = tiny_semaim()
    x = images(2, (32, 32))
    with torch.profiler.profile(activities=[
            torch.profiler.ProfilerActivity.CPU]) as prof:
        model.loss(x)
    names = {e.name for e in prof.events()}
    assert LOSS_PHASES <= names
