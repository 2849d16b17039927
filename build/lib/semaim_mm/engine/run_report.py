"""What a run prints: short by default, complete at ``--log-level DEBUG``.

mmengine 0.10.7 logs, at INFO, its whole environment, the whole config, the
hook table and one ``paramwise_options`` line per parameter option (117 lines
for the tiny model): :class:`QuietLogFilter` turns these into one line each.
:class:`RunReportHook` adds what the dumps hid (a one-line summary of the
optimizer's parameter groups, what ``sim_peak`` means) and logs progress at
least every 10% of the run. :class:`InputSizeCheckHook` compares the first
batch's image size with the model's ``img_size``.
"""
import logging
import re
from collections import Counter
from typing import Dict, List

import torch
from mmengine.hooks import Hook, LoggerHook
from mmengine.model import is_model_wrapper

ENV_KEYS = ('Python', 'PyTorch', 'CUDA available', 'GPU 0', 'MMEngine',
            'seed', 'deterministic', 'Distributed launcher', 'GPU number')
# Records dropped at INFO (upstream deprecation notes about its own calls,
# and a SyncBN remark that holds for every single-process run).
DROPPED = ('Hooks will be executed in the following order',
           '"FileClient" will be deprecated', '"HardDiskBackend" is the alias',
           'Distributed training is not used')


def summarize_env(text: str) -> str:
    """One line from mmengine's 'System environment' block."""
    found: Dict[str, str] = {}
    for key, value in re.findall(r'^\s{4}([^:\n]+): (.*)$', text, re.M):
        found.setdefault(key.strip(), value.strip())
    parts = []
    for key in ENV_KEYS:
        if key in found:
            value = found[key].split(' ')[0] if key == 'Python' else found[key]
            name = 'world size' if key == 'GPU number' else key
            parts.append(f'{name}: {value}')
    return ('Environment: ' + ', '.join(parts) +
            ' (full report at --log-level DEBUG)')


class QuietLogFilter(logging.Filter):
    """Logger filter: one line instead of each of mmengine's INFO dumps."""

    def __init__(self, config_name: str) -> None:
        super().__init__()
        self.config_name = config_name
        self.dropped: Counter = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        if msg.startswith('paramwise_options --'):
            self.dropped['paramwise_options'] += 1
            return False
        if msg.endswith('is skipped since its requires_grad=False'):
            self.dropped['frozen'] += 1
            return False
        if msg.startswith(DROPPED):
            return False
        if msg.startswith('Config:\n'):
            record.msg = (f'Config: {self.config_name} (copy in the work '
                          'dir; full text at --log-level DEBUG)')
        elif 'System environment:' in msg:
            record.msg = summarize_env(msg)
        else:
            return True
        record.args = ()
        return True


def param_group_summary(optimizer: torch.optim.Optimizer,
                        model: torch.nn.Module) -> str:
    """'AdamW: 52 tensors (1.2M values) in 3 groups; weight_decay 0.05: 26
    tensors, 0.0: 26; lr 1.5e-03; 3 frozen tensors' in one line."""
    decay: Counter = Counter()
    lrs: List[float] = []
    tensors = values = 0
    for group in optimizer.param_groups:
        n = len(group['params'])
        tensors += n
        values += sum(p.numel() for p in group['params'])
        decay[group.get('weight_decay', 0.0)] += n
        lrs.append(group.get('initial_lr', group['lr']))
    frozen = sum(1 for p in model.parameters() if not p.requires_grad)
    lr = (f'{min(lrs):.2e}' if min(lrs) == max(lrs) else
          f'{min(lrs):.2e}..{max(lrs):.2e}') if lrs else '-'
    wd = ', '.join(f'{k:g}: {v}' for k, v in sorted(decay.items()))
    return (f'Optimizer {type(optimizer).__name__}: {tensors} parameter '
            f'tensors ({values / 1e6:.2f}M values) in '
            f'{len(optimizer.param_groups)} groups; tensors per '
            f'weight_decay {{{wd}}}; lr {lr}; {frozen} frozen tensors not '
            'optimized (per-parameter options at --log-level DEBUG)')


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


class RunReportHook(Hook):
    """Progress at least every 10% of the run, and the first lines a reader
    needs: the parameter groups and what ``sim_peak`` means."""

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        cap = max(1, runner.max_iters // 10)
        for hook in runner.hooks:
            if isinstance(hook, LoggerHook) and hook.interval > cap:
                hook.interval = cap
        model = _unwrap(runner.model)
        optimizer = getattr(runner.optim_wrapper, 'optimizer', None)
        if isinstance(optimizer, torch.optim.Optimizer):
            runner.logger.info(param_group_summary(optimizer, model))
        if getattr(model, 'log_order_stats', False):
            runner.logger.info(
                'sim_peak (logged every step) = N * max S averaged over the '
                'batch, N = patches per image: 1 means a flat similarity map '
                '(no semantic signal for the order), N a one-hot map.')


class InputSizeError(ValueError):
    """The data's image size does not match the model's."""


class InputSizeCheckHook(Hook):
    """Before the first step, the first batch's image size must equal the
    backbone's ``img_size`` (mmpretrain pre-training / classification
    models; otherwise the position embedding is silently interpolated)."""

    def __init__(self) -> None:
        self.checked = False

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        if self.checked:
            return
        self.checked = True
        from mmpretrain.models import BaseSelfSupervisor, ImageClassifier
        model = _unwrap(runner.model)
        backbone = getattr(model, 'backbone', None)
        want = getattr(backbone, 'img_size', None)
        inputs = data_batch.get('inputs') if isinstance(data_batch,
                                                        dict) else None
        if isinstance(inputs, (list, tuple)) and inputs:
            inputs = inputs[0]
        if not isinstance(model, (BaseSelfSupervisor, ImageClassifier)) or \
                want is None or not torch.is_tensor(inputs):
            return
        got = tuple(inputs.shape[-2:])
        if got == tuple(want):
            return
        grid = tuple(getattr(backbone, 'patch_resolution', ()))
        patch = want[0] // grid[0] if grid else '?'
        size = got[0] if got[0] == got[1] else f'"({got[0]},{got[1]})"'
        raise InputSizeError(
            f'the first training batch holds {got[0]}x{got[1]} images (HxW), '
            f'but model.backbone.img_size is {tuple(want)} (patch {patch}: '
            f'a {"x".join(map(str, grid))} grid), so the position embedding '
            'would be interpolated. Make them agree: --cfg-options '
            f'model.backbone.img_size={size}, or make the pipeline '
            '(train_dataloader.dataset.pipeline, e.g. RandomResizedCrop '
            f'scale) output {want[0]}x{want[1]} images.')
