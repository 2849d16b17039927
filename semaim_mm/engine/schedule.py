"""Keep the LR / momentum schedule's shape when the run length changes.

``--cfg-options train_cfg.max_iters=N`` (or ``max_epochs``), and every stage
of ``tools/reproduce.py``, change only the loop; the config's
``param_scheduler`` keeps milestones sized for its own length, so a shortened
run would end inside the warm-up. :func:`rescale` multiplies the milestones
(``begin``, ``end``, ``T_max``, ``milestones``, ``total_steps``) of the
schedulers counted in the changed unit by N / old.

A window counted in iterations keeps at least :data:`MIN_WINDOW` of them
(:func:`fit_windows`): mmengine's ``LinearLR`` over ``[begin, end)`` reaches
its ``end_factor`` at iteration ``end - 1``, so a one-iteration warm-up
never ramps, and a zero-iteration one is refused by mmengine. The tools'
Runner applies the same rule to epoch-based schedulers converted to
iterations (``convert_to_iter_based``), once the epoch length is known.
"""
from typing import Any, Dict, List, Sequence

KEYS = ('begin', 'end', 'T_max', 'total_steps')
MIN_WINDOW = 2


def _scaled(value: Any, old: int, new: int, exact: bool) -> Any:
    """``value * new / old``; values past the run's end (sentinels such as
    mmengine's INF default) stay. ``exact``: keep fractions (schedulers that
    mmengine converts from epochs to iterations); else a positive milestone
    stays a whole number >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            value > old:
        return value
    if value == old:
        return new
    x = value * new / old
    if exact or value <= 0:
        return x
    return min(new, max(1, round(x)))


def fit_windows(schedulers: Sequence[Dict[str, Any]], total: int,
                lengths: Sequence[float]) -> List[str]:
    """Widen, in place, the ``[begin, end)`` windows (whole iterations) of
    ``schedulers`` whose configured length (``lengths``) was positive but
    that now hold fewer than :data:`MIN_WINDOW` iterations, as far as the
    run's ``total`` iterations allow; a scheduler that began where a widened
    one ended moves with it (its ``T_max`` keeps spanning its window). A
    window at or past the run's end keeps ``end > begin`` (mmengine's
    check). Returns one sentence per window still too short."""
    moved: Dict[Any, int] = {}
    notes = []
    for sched, length in zip(schedulers, lengths):
        begin, end = sched.get('begin', 0), sched.get('end')
        if end is None or isinstance(end, bool):
            continue
        spans = 'T_max' in sched and sched['T_max'] == end - begin
        if begin in moved:
            sched['begin'] = begin = moved[begin]
        name = sched.get('type', '?')
        if length > 0 and end - begin < MIN_WINDOW and begin < total:
            moved[end] = end = min(total, int(begin) + MIN_WINDOW)
            sched['end'] = end
            if end - begin < MIN_WINDOW:
                notes.append(
                    f'{name} holds {end - begin} iteration of this '
                    f'{total}-iteration run: too short to honour the '
                    'schedule (a warm-up stays at its start value)')
        if end <= begin:
            sched['end'] = end = begin + 1
        if spans:
            sched['T_max'] = end - begin
    return notes


def rescale(param_scheduler: Any, by_epoch: bool, old: int,
            new: int) -> List[str]:
    """Rescale, in place, the schedulers with ``by_epoch`` from a run of
    ``old`` to one of ``new`` iterations (or epochs); returns what changed,
    one 'Type key a->b' entry per scheduler, then the notes of
    :func:`fit_windows` (iteration schedulers). A ``T_max`` that spans
    ``begin``..``end`` keeps spanning them."""
    if not param_scheduler or not old or new == old:
        return []
    items = param_scheduler if isinstance(param_scheduler,
                                          (list, tuple)) else [param_scheduler]
    touched, fitted, lengths = [], [], []
    for sched in items:
        if bool(sched.get('by_epoch', True)) != by_epoch:
            continue
        exact = by_epoch and bool(sched.get('convert_to_iter_based', False))
        before = {k: sched[k] for k in KEYS if k in sched}
        spans = 'T_max' in sched and sched.get('end') is not None and \
            sched['T_max'] == sched['end'] - sched.get('begin', 0)
        for key, value in before.items():
            sched[key] = _scaled(value, old, new, exact)
        if spans:
            sched['T_max'] = sched['end'] - sched.get('begin', 0)
        if not by_epoch and isinstance(before.get('end'), (int, float)):
            fitted.append(sched)
            lengths.append(before['end'] - before.get('begin', 0))
        elif 'end' in sched and sched['end'] <= sched.get('begin', 0):
            sched['end'] = sched.get('begin', 0) + 1  # mmengine: end > begin
        steps = sched.get('milestones')
        if isinstance(steps, (list, tuple)):
            before['milestones'] = list(steps)
            sched['milestones'] = [_scaled(m, old, new, exact) for m in steps]
        touched.append((sched, before))
    notes = fit_windows(fitted, new, lengths)
    changes = []
    for sched, before in touched:
        done = [f'{k} {v}->{sched[k]}' for k, v in before.items()
                if v != sched[k]]
        if done:
            changes.append(f"{sched.get('type', '?')} {' '.join(done)}")
    return changes + notes
