"""End-to-end training throughput through the mmengine Runner, beside the
bare step rate measured in the same run (``tools/benchmark.py
--end-to-end``; see docs/benchmarks.md).

:func:`run_end_to_end` builds the config's runner the way ``tools/train.py``
does (data loader, hooks, logging, schedulers) and trains ``warmup + steps``
iterations. :class:`StepRateHook` times each iteration from the end of the
previous one, so data loading, every hook and logging count, and after
every ``probe_every``-th timed iteration it runs one bare
``model.train_step`` on the batch just used (no data loading, no hooks) and
one fp32 sgemm. The three rates are sampled interleaved, so load on the
machine hits them alike; their ratios are the figures to read.
"""
import os
import tempfile
import time
from statistics import median
from typing import Dict, List, Optional

import torch
from mmengine.hooks import Hook

from .benchmark import sgemm_rate
from .flops import step_flops


class StepRateHook(Hook):
    """Times the runner's iterations and probes the bare step (module
    docstring).

    Attributes:
        iter_s: seconds of each timed iteration, end to end.
        data_s: of each, the wait between the previous iteration's end and
            this one's ``before_train_iter`` (the data loader's ``next``).
        bare_s: seconds of each bare ``train_step`` probe.
        sgemm: FLOP/s of each sgemm probe.
    """

    priority = 'LOWEST'  # after every other hook: an iteration ends here

    def __init__(self, warmup: int, probe_every: int = 2,
                 sgemm_size: int = 2048) -> None:
        self.warmup = warmup
        self.probe_every = probe_every
        self.sgemm_size = sgemm_size
        self.iter_s: List[float] = []
        self.data_s: List[float] = []
        self.bare_s: List[float] = []
        self.sgemm: List[float] = []
        self.batch: Optional[int] = None
        self.img_hw = None
        self._end: Optional[float] = None
        self._start: Optional[float] = None

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        self._start = time.perf_counter()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        now = time.perf_counter()
        timed = runner.iter - self.warmup  # runner.iter: this iteration
        if timed >= 0 and self._end is not None:
            self.iter_s.append(now - self._end)
            self.data_s.append(self._start - self._end)
        if self.batch is None:
            inputs = data_batch['inputs']
            self.batch = len(inputs)
            self.img_hw = tuple(inputs[0].shape[-2:])
        if timed >= 0 and timed % self.probe_every == 0:
            self.bare_s.append(self._bare_step(runner, data_batch))
            self.sgemm.append(sgemm_rate('cpu', self.sgemm_size))
        self._end = time.perf_counter()

    @staticmethod
    def _bare_step(runner, data_batch) -> float:
        start = time.perf_counter()
        runner.model.train_step(data_batch, runner.optim_wrapper)
        return time.perf_counter() - start


def end_to_end_config(cfg, total_iters: int, work_dir: str):
    """The config trained for ``total_iters`` iterations in ``work_dir``,
    without validation or checkpoints (an epoch-based config runs an
    iteration-based loop over the same data loader)."""
    cfg.work_dir = work_dir
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=total_iters)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint = None
    cfg.resume = False
    cfg.load_from = None
    return cfg


def run_end_to_end(cfg, steps: int, warmup: int, probe_every: int = 2,
                   sgemm_size: int = 2048) -> Dict:
    """Train ``cfg`` for ``warmup + steps`` iterations through
    :func:`semaim_mm.engine.build_runner` and return the end-to-end and
    bare-step rates, MFU against the sgemm probes, and the data wait.

    Args:
        cfg: an mmengine ``Config`` of any training config of the project
            (pre-training, MAE, fine-tuning); its ``--cfg-options`` merged.
        steps, warmup: timed and untimed iterations.
        probe_every: a bare step and an sgemm after every this many timed
            iterations.
    """
    from ..engine import build_runner
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix='semaim-e2e-') as work_dir:
        cfg = end_to_end_config(cfg, warmup + steps, work_dir)
        runner = build_runner(cfg)
        hook = StepRateHook(warmup, probe_every, sgemm_size)
        runner.register_hook(hook)
        start = time.perf_counter()
        runner.train()
        wall = time.perf_counter() - start
        model = runner.model.module if hasattr(
            runner.model, 'module') else runner.model
        flops = step_flops(model, hook.img_hw)
    it, bare = median(hook.iter_s), median(hook.bare_s)
    sgemm = median(hook.sgemm)
    out = dict(
        model=type(model).__name__, batch=hook.batch, img_hw=hook.img_hw,
        steps=steps, warmup=warmup, probes=len(hook.bare_s),
        torch_threads=torch.get_num_threads(),
        num_workers=cfg.train_dataloader.get('num_workers', 0),
        iter_s=hook.iter_s, data_s=hook.data_s, bare_s=hook.bare_s,
        sgemm_samples=hook.sgemm, sgemm_flops_per_s=sgemm,
        end_to_end_images_per_s=hook.batch / it,
        bare_step_images_per_s=hook.batch / bare,
        end_to_end_vs_bare_step=bare / it,
        data_wait_fraction=median(hook.data_s) / it,
        flops_per_image=flops, wall_s=wall,
        loadavg_start=load_start, loadavg_end=os.getloadavg())
    if flops is not None:
        per_step = flops['total'] * hook.batch
        out['bare_step_mfu'] = per_step / bare / sgemm
        out['end_to_end_mfu'] = per_step / it / sgemm
    return out
