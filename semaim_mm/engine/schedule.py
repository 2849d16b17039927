"""Keep the LR / momentum schedule's shape when the run length changes.

``--cfg-options train_cfg.max_iters=N`` (or ``max_epochs``) changes only the
loop; the config's ``param_scheduler`` keeps milestones sized for its own
length, so a shortened run would end inside the warm-up. :func:`rescale`
multiplies the milestones (``begin``, ``end``, ``T_max``, ``milestones``,
``total_steps``) of the schedulers counted in the changed unit by N / old.
"""
from typing import Any, List


def _scaled(value: Any, ratio: float, old: int) -> Any:
    # Sentinels past the run's end (mmengine's INF default) stay as they are.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            value > old:
        return value
    return int(round(value * ratio))


def rescale(param_scheduler: Any, by_epoch: bool, old: int,
            new: int) -> List[str]:
    """Rescale, in place, the schedulers with ``by_epoch`` from a run of
    ``old`` to one of ``new`` iterations (or epochs); returns what changed,
    one 'Type key a->b' entry per scheduler."""
    if not param_scheduler or not old or new == old:
        return []
    items = param_scheduler if isinstance(param_scheduler,
                                          (list, tuple)) else [param_scheduler]
    ratio = new / old
    changes = []
    for sched in items:
        if bool(sched.get('by_epoch', True)) != by_epoch:
            continue
        before = {k: sched[k] for k in ('begin', 'end', 'T_max',
                                         'total_steps') if k in sched}
        for key, value in before.items():
            sched[key] = _scaled(value, ratio, old)
        if 'T_max' in sched:
            sched['T_max'] = max(1, sched['T_max'])
        if 'begin' in sched and 'end' in sched and \
                sched['end'] <= sched['begin']:
            sched['end'] = sched['begin'] + 1
        done = [f'{k} {v}->{sched[k]}' for k, v in before.items()
                if v != sched[k]]
        if isinstance(sched.get('milestones'), (list, tuple)):
            steps = list(sched['milestones'])
            sched['milestones'] = [_scaled(m, ratio, old) for m in steps]
            if steps != sched['milestones']:
                done.append(f'milestones {steps}->{sched["milestones"]}')
        if done:
            changes.append(f"{sched.get('type', '?')} {' '.join(done)}")
    return changes
