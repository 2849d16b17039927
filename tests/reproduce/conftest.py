"""Fixtures of the reproduction tests: finished tuning results written as
the worker writes them, so a plan's tuned rows get their final stages."""
import json
import os
import os.path as osp

import pytest

from semaim_mm.reproduce import build_plan


def write_result(plan, h: str, **data) -> None:
    d = plan.stage_dir(h)
    os.makedirs(d, exist_ok=True)
    st = plan.stages[h]
    base = dict(hash=h, kind=st.kind, label=st.label, row=st.row,
                column=st.column, seed=st.seed, images=st.images,
                group=st.group,
                command='fixture', git='abc', wall_s=10.0, cpu_s=12.0,
                machine=dict(cpu_count=2, load_start=[1, 1, 1]),
                record=dict(images_seen=64, train_wall_s=10.0,
                            train_cpu_s=20.0), metrics={})
    with open(osp.join(d, 'result.json'), 'w') as f:
        json.dump(dict(base, **data), f)


@pytest.fixture
def finish_tuning():
    """finish_tuning(plan, score(grid name, trial index) -> top-1) writes
    every tuning result -- the recipe grids', then the methods' they
    release -- and returns the plan rebuilt with the winners."""

    def finish(plan, score):
        written = set()
        while True:
            grids = list(plan.recipe_tuning.items()) + list(
                plan.tuning.items())
            todo = [(key, h) for key, h in grids if h not in written]
            if not todo:
                return plan
            for (name, i), h in todo:
                col = plan.spec.columns[plan.stages[h].column]
                write_result(plan, h, metrics={
                    col.metrics[col.primary]: score(name, i)})
                if plan.stages[h].depends:
                    write_result(plan, plan.stages[h].depends)
                written.add(h)
            plan = build_plan(plan.spec)

    return finish
