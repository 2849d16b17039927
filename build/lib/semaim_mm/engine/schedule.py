"""Keep the LR / momentum schedule's shape when the run length changes.

``--cfg-options train_cfg.max_iters=N`` (or ``max_epochs``), and every stage
of ``tools/reproduce.py``, change only the loop; the config's
``param_scheduler`` keeps milestones sized for its own length, so a shortened
run would end inside the warm-up. :func:`rescale` multiplies the milestones
(``begin``, ``end``, ``T_max``, ``milestones``, ``total_steps``) of the
schedulers counted in the changed unit by N / old.
"""
from typing import Any, List

KEYS = ('begin', 'end', 'T_max', 'total_steps')


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


def rescale(param_scheduler: Any, by_epoch: bool, old: int,
            new: int) -> List[str]:
    """Rescale, in place, the schedulers with ``by_epoch`` from a run of
    ``old`` to one of ``new`` iterations (or epochs); returns what changed,
    one 'Type key a->b' entry per scheduler. A ``T_max`` that spans
    ``begin``..``end`` keeps spanning them."""
    if not param_scheduler or not old or new == old:
        return []
    items = param_scheduler if isinstance(param_scheduler,
                                          (list, tuple)) else [param_scheduler]
    changes = []
    for sched in items:
        if bool(sched.get('by_epoch', True)) != by_epoch:
            continue
        exact = by_epoch and bool(sched.get('convert_to_iter_based', False))
        before = {k: sched[k] for k in KEYS if k in sched}
        spans = 'T_max' in sched and sched.get('end') is not None and \
            sched['T_max'] == sched['end'] - sched.get('begin', 0)
        for key, value in before.items():
            sched[key] = _scaled(value, old, new, exact)
        if 'end' in sched and sched['end'] <= sched.get('begin', 0):
            # a run shorter than the warm-up: mmengine needs end > begin
            sched['end'] = sched.get('begin', 0) + 1
        if spans:
            sched['T_max'] = sched['end'] - sched.get('begin', 0)
        done = [f'{k} {v}->{sched[k]}' for k, v in before.items()
                if v != sched[k]]
        if isinstance(sched.get('milestones'), (list, tuple)):
            steps = list(sched['milestones'])
            sched['milestones'] = [_scaled(m, old, new, exact) for m in steps]
            if steps != sched['milestones']:
                done.append(f'milestones {steps}->{sched["milestones"]}')
        if done:
            changes.append(f"{sched.get('type', '?')} {' '.join(done)}")
    return changes
