"""Runs matrix stages, one after the other, in this process:

    python -m semaim_mm.reproduce.worker PLAN.json

``tools/reproduce.py`` writes the plan (resolved config files and stage
folders) and starts this worker as a subprocess. Training stages run
:func:`semaim_mm.apis.train` (what ``tools/train.py`` runs, mmengine
``Runner``); k-NN stages run :func:`semaim_mm.evaluation.run_knn`. A stage
starts from an empty ``work/`` folder and ends by writing ``result.json``
atomically, so an interrupted stage leaves no result and runs again from the
start.
"""
import ctypes
import glob
import json
import os
import os.path as osp
import platform
import shutil
import signal
import sys
import time
import traceback
from typing import Dict

import torch

from semaim_mm.apis import train
from semaim_mm.engine.preemption import PREEMPTED_EXIT
from semaim_mm.reproduce.hooks import RECORD_FILE, cpu_seconds, write_json

RESULT_FILE = 'result.json'
ERROR_FILE = 'error.txt'
# The pid of the tools/reproduce.py process that started this worker.
PARENT_ENV = 'SEMAIM_REPRODUCE_PARENT'
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> None:
    """Have the kernel SIGKILL this worker when its tools/reproduce.py
    exits, however it ends (Linux); exit now if that already happened.
    An orphaned worker would go on alone, and a rerun would empty the
    folder of the stage it is running."""
    if os.environ.get(PARENT_ENV) and sys.platform.startswith('linux'):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    exit_if_orphaned()


def exit_if_orphaned() -> None:
    """Exit when tools/reproduce.py is gone (elsewhere than Linux, the
    worker checks before each stage)."""
    parent = os.environ.get(PARENT_ENV)
    if parent and os.getppid() != int(parent):
        print('tools/reproduce.py has exited: the worker stops', flush=True)
        sys.exit(1)


def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    return dict(cpu_count=os.cpu_count(), cpu=cpu_model(),
                torch_threads=torch.get_num_threads(),
                torch=torch.__version__, python=platform.python_version(),
                platform=platform.platform(terse=True))


def run_train(stage: dict, work: str) -> dict:
    """``train(CONFIG, WORK)`` (``tools/train.py CONFIG --work-dir WORK``);
    the recorder's numbers."""
    train(stage['config'], work)
    with open(osp.join(work, RECORD_FILE)) as f:
        record = json.load(f)
    out = dict(record=record, metrics={})
    if stage['kind'] == 'pretrain':
        if not osp.isfile(stage['checkpoint']):
            raise RuntimeError(f"no checkpoint {stage['checkpoint']}")
        return out
    vals = record['validations']
    end = (record['iters'], record['max_iters']) if stage['unit'] == 'iters' \
        else (record['epochs'], record['max_epochs'])
    if not vals or end[0] != end[1] or vals[-1][stage['unit'][:-1]] != end[1]:
        raise RuntimeError(f'{stage["label"]}: no validation after the last '
                           f'{stage["unit"][:-1]} ({end[1]})')
    out['metrics'] = vals[-1]['metrics']
    for ckpt in glob.glob(osp.join(work, '*.pth')):
        os.remove(ckpt)  # evaluation weights are not reused
    return out


def _pixel_features(dataset, batch_size: int):
    from mmengine.dataset import default_collate
    from torch.utils.data import DataLoader
    feats, labels = [], []
    for batch in DataLoader(dataset, batch_size=batch_size,
                            collate_fn=default_collate):
        x = batch['inputs']
        x = torch.stack(x) if isinstance(x, (list, tuple)) else x
        feats.append(x[:, 0].flatten(1).float() / 255.)
        labels.append(torch.as_tensor(
            [int(d.gt_label) for d in batch['data_samples']]))
    return torch.cat(feats), torch.cat(labels)


def run_knn_stage(stage: dict, work: str) -> dict:
    """Weighted k-NN of the stage's encoder (or raw pixels in [0, 1])."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import set_random_seed
    from mmpretrain.registry import DATASETS, MODELS

    from semaim_mm.evaluation import knn_classify, run_knn
    cfg = Config.fromfile(stage['config'])
    knn = cfg.knn
    ks = tuple(knn.get('ks', (10, 20, 30)))
    temp = knn.get('temperature', 0.07)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope',
                                                      'mmpretrain')):
        bank = DATASETS.build(knn.bank_dataset)
        query = DATASETS.build(knn.query_dataset)
        if cfg.model.backbone.type == 'RawPixels':
            bs = knn.get('batch_size', 512)
            acc = knn_classify(*_pixel_features(bank, bs),
                               *_pixel_features(query, bs), ks, temp)
            metrics = {f'knn/top1_k{k}': v for k, v in acc.items()}
        else:
            set_random_seed(stage['seed'])
            model = MODELS.build(cfg.model)
            model.init_weights()
            metrics = run_knn(model, bank, query, ks, temp,
                              knn.get('feature', 'gap'),
                              knn.get('batch_size', 256),
                              knn.get('num_workers', 0))
    return dict(metrics=metrics, record=dict(bank_size=len(bank),
                                             query_size=len(query)))


def _failed(stage: dict, e: BaseException) -> bool:
    """Record a stage's error beside it; the worker goes on."""
    with open(osp.join(stage['dir'], ERROR_FILE), 'w') as f:
        f.write(traceback.format_exc())
    print(f"    FAILED: {str(e).splitlines()[0] if str(e) else type(e)}"
          f" (see {osp.join(stage['dir'], ERROR_FILE)})", flush=True)
    return False


def run_stage(stage: dict, meta: dict) -> bool:
    """One stage from an empty work folder to its ``result.json``."""
    work = osp.join(stage['dir'], 'work')
    shutil.rmtree(work, ignore_errors=True)
    for stale in (RESULT_FILE, ERROR_FILE):
        if osp.exists(osp.join(stage['dir'], stale)):
            os.remove(osp.join(stage['dir'], stale))
    os.makedirs(work)
    print(f"[{stage['index']}/{stage['total']}] {stage['label']}",
          flush=True)
    start, cpu0, load0 = time.time(), cpu_seconds(), os.getloadavg()
    try:
        run = run_knn_stage if stage['kind'] == 'knn' else run_train
        out = run(stage, work)
    except SystemExit as e:
        if e.code == PREEMPTED_EXIT:  # SIGTERM / SIGUSR1: stop, no next stage
            raise
        return _failed(stage, e)
    except Exception as e:  # noqa: B902  (report, go on)
        return _failed(stage, e)
    wall = time.time() - start
    keep = ('hash', 'kind', 'label', 'row', 'column', 'seed', 'images',
            'group', 'depends', 'checkpoint', 'config')
    result = {**{k: stage[k] for k in keep}, **out, **meta}
    result.update(
        wall_s=wall, cpu_s=cpu_seconds() - cpu0,
        machine=dict(machine(), load_start=load0, load_end=os.getloadavg()),
        started=time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(start)))
    write_json(osp.join(stage['dir'], RESULT_FILE), result)
    print(f'    done in {wall:.0f} s', flush=True)
    return True


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print('usage: python -m semaim_mm.reproduce.worker PLAN.json')
        return 2
    die_with_parent()
    from mmengine.logging import MMLogger
    # building models logs every parameter's init at INFO
    MMLogger.get_instance('mmengine', log_level='WARNING')
    with open(args[0]) as f:
        plan = json.load(f)
    failed: Dict[str, bool] = {}
    for stage in plan['stages']:
        exit_if_orphaned()
        if stage['depends'] in failed:
            print(f"[{stage['index']}/{stage['total']}] {stage['label']}: "
                  'skipped, its pre-training failed', flush=True)
            failed[stage['hash']] = True
            continue
        if not run_stage(stage, plan['meta']):
            failed[stage['hash']] = True
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
