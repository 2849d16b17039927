"""What a matrix stage records about its own training run."""
import json
import os
import os.path as osp
import resource
import time
from typing import Dict, List, Optional

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

RECORD_FILE = 'stage_record.json'
CURVE_POINTS = 100  # loss-curve points per run (window means)


def cpu_seconds() -> float:
    """CPU seconds of this process (all threads) and its reaped children
    (data-loader workers)."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def write_json(path: str, data: dict) -> None:
    """Atomic: a temporary file, fsync, rename; never a half-written file."""
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write('\n')
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def step_flops_per_image(model, img_hw) -> Optional[int]:
    """Analytic FLOPs of one training step per image
    (:mod:`semaim_mm.profiling.flops`) for SemAIM and mmpretrain's MAE; None
    for other models (fine-tuning, probes)."""
    from mmpretrain.models import MAE

    from ..profiling.flops import mae_model_step_flops, model_step_flops
    from ..models import SemAIM
    model = getattr(model, 'module', model)
    if isinstance(model, SemAIM):
        return int(model_step_flops(model, img_hw)['total'])
    if isinstance(model, MAE):
        return int(mae_model_step_flops(model, img_hw)['total'])
    return None


@HOOKS.register_module()
class StageRecorderHook(Hook):
    """Wall-clock and CPU seconds of the training loop (validation time kept
    apart), images seen, every validation's metrics with its epoch /
    iteration, the training-loss curve (the mean loss of each of about
    :data:`CURVE_POINTS` windows, as ``[last iteration, mean]`` pairs) and,
    for SemAIM / MAE pre-training, the analytic FLOPs per image and in all;
    written to ``<work_dir>/stage_record.json`` after training. Prints a
    progress line every ``100 / progress`` percent of the run.
    """
    priority = 'VERY_LOW'

    def __init__(self, progress: int = 10) -> None:
        self.progress = progress
        self.images = 0
        self.validations: List[Dict] = []
        self.val_wall = self.val_cpu = 0.0
        self._val_start: Optional[tuple] = None
        self.loss_curve: List[List[float]] = []
        self._window: List[float] = []
        self.flops_per_image: Optional[int] = None

    def before_train(self, runner) -> None:
        self._start = (time.time(), cpu_seconds())

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if data_batch is not None:
            inputs = data_batch['inputs']
            self.images += len(inputs)
            if runner.iter == 0:
                self.flops_per_image = step_flops_per_image(
                    runner.model, tuple(inputs[0].shape[-2:]))
        done = runner.iter + 1
        loss = (outputs or {}).get('loss')
        loss = None if loss is None else float(loss.detach())
        if loss is not None:
            self._window.append(loss)
        width = max(1, runner.max_iters // CURVE_POINTS)
        if self._window and (done % width == 0 or done == runner.max_iters):
            self.loss_curve.append(
                [done, sum(self._window) / len(self._window)])
            self._window = []
        every = max(1, runner.max_iters // max(1, self.progress))
        if self.progress and (done % every == 0 or done == runner.max_iters):
            text = '' if loss is None else f' loss {loss:.4f}'
            print(f'    iter {done}/{runner.max_iters}{text}', flush=True)

    def before_val_epoch(self, runner) -> None:
        self._val_start = (time.time(), cpu_seconds())

    def after_val_epoch(self, runner, metrics=None) -> None:
        wall, cpu = self._val_start
        self.val_wall += time.time() - wall
        self.val_cpu += cpu_seconds() - cpu
        self.validations.append(dict(
            epoch=runner.epoch, iter=runner.iter,
            metrics={k: float(v) for k, v in (metrics or {}).items()}))

    def after_train(self, runner) -> None:
        wall, cpu = self._start
        record = dict(
            train_wall_s=time.time() - wall - self.val_wall,
            train_cpu_s=cpu_seconds() - cpu - self.val_cpu,
            val_wall_s=self.val_wall, val_cpu_s=self.val_cpu,
            images_seen=self.images, iters=runner.iter, epochs=runner.epoch,
            max_iters=runner.max_iters, max_epochs=runner.max_epochs,
            validations=self.validations, loss_curve=self.loss_curve,
            flops_per_image=self.flops_per_image,
            train_flops=None if self.flops_per_image is None else
            self.flops_per_image * self.images)
        write_json(osp.join(runner.work_dir, RECORD_FILE), record)
