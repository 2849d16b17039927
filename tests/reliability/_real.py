"""Helpers to run tools/train.py on the tiny Fashion-MNIST config."""
import glob
import json
import os
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PYTHON = sys.executable
CONFIG = osp.join(ROOT, 'configs/pretrain/semaim_vit-tiny-p4_fashion-mnist.py')
# A smaller model than the config's, deterministic, one image loader in
# the main process: seconds per run on a CPU.
SMALL = [
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'model.backbone.arch.num_layers=2', 'model.neck.depth=2',
    'model.backbone.arch.embed_dims=32', 'model.head.embed_dims=32',
    'model.backbone.arch.feedforward_channels=64',
    'default_hooks.logger.interval=1', 'randomness.deterministic=True',
]


def env():
    e = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    e.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    return e


def losses(work_dir):
    """{iter: loss} from every run's scalars.json in work_dir."""
    out = {}
    for path in sorted(glob.glob(osp.join(work_dir, '*/vis_data/scalars.json'))):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if 'loss' in rec:
                    out[rec['iter']] = rec['loss']
    return out
