"""Weighted k-NN evaluation of a SemAIM (or any ViT) checkpoint.

    python tools/knn_eval.py CONFIG CKPT [--feature gap|cls|cls_gap] [--ks 10 20 30]
    torchrun --nproc_per_node 8 tools/knn_eval.py CONFIG CKPT --launcher pytorch

CONFIG: a k-NN config (configs/benchmarks/knn/*.py: ``model`` with a
``backbone`` and ``data_preprocessor``, ``knn`` with the bank / query
datasets) or a pre-training config (configs/pretrain/*.py: the bank is its
training set with the validation pipeline and the queries its val / test
split). CKPT: a SemAIM pre-training checkpoint, the authors' checkpoint, an
encoder-only (``backbone``) file, a classifier or a timm ViT checkpoint
(loaded strictly). Features of the train split (bank) and val split (queries)
are extracted by the backbone on every rank (bf16 autocast on GPUs) and
gathered on rank 0 only, which searches them on its GPU in chunks and prints
top-1 per k (and writes it to ``--out`` as JSON). The other ranks wait for
the search within ``--dist-timeout`` minutes. Every k is checked against the
bank size before any feature is extracted.
"""
import argparse
import copy
import json

import torch
from mmengine import dist
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger

import semaim_mm  # noqa: F401

# init_weights() logs every parameter at INFO
MMLogger.get_instance('mmengine', log_level='WARNING')
from semaim_mm.checkpoints import load_encoder_into  # noqa: E402
from semaim_mm.evaluation import check_ks, run_knn  # noqa: E402
from semaim_mm.preflight import (PreflightError, preflight,  # noqa: E402
                                 run_tool)

IMAGENET_TEST_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]


def knn_settings(cfg: Config) -> dict:
    """The ``knn`` section, derived from a pre-training config if absent."""
    if 'knn' in cfg:
        return copy.deepcopy(cfg.knn.to_dict())
    train = copy.deepcopy(cfg.train_dataloader.dataset.to_dict())
    if train.get('type') == 'FashionMNISTDataset':
        pipeline, query_split = [dict(type='PackInputs')], 'test'
    else:
        pipeline, query_split = IMAGENET_TEST_PIPELINE, 'val'
    if 'val_dataloader' in cfg and cfg.val_dataloader:
        query = copy.deepcopy(cfg.val_dataloader.dataset.to_dict())
        pipeline = query.get('pipeline', pipeline)
    else:
        query = dict(train, split=query_split)
    train['pipeline'] = query['pipeline'] = pipeline
    return dict(bank_dataset=train, query_dataset=query)


def build_model(cfg: Config, ckpt: str):
    """The config's model with the encoder of ``ckpt`` (any checkpoint that
    holds one, :func:`semaim_mm.checkpoints.load_encoder_state_dict`),
    loaded strictly; eval mode."""
    from mmpretrain.registry import MODELS
    model_cfg = copy.deepcopy(cfg.model.to_dict())
    model_cfg['backbone'].pop('init_cfg', None)
    model_cfg.pop('init_cfg', None)
    model = MODELS.build(model_cfg)
    backbone = model.backbone
    # SemAIMViT's documented keys; the same for mmpretrain's ViT (GAP ln2).
    load_encoder_into(
        backbone, ckpt,
        new_keys=getattr(backbone, 'checkpoint_new_keys', (r'ln2\.', )),
        unused_keys=getattr(backbone, 'checkpoint_unused_keys',
                            (r'ln[12]\.', )),
        source='CKPT')
    return model.eval()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--feature', choices=('gap', 'cls', 'cls_gap'),
                   help="feature (default: the config's knn.feature or gap)")
    p.add_argument('--ks', type=int, nargs='+')
    p.add_argument('--temperature', type=float)
    p.add_argument('--batch-size', type=int)
    p.add_argument('--num-workers', type=int)
    p.add_argument('--bank-size', type=int,
                   help='use only the first N bank images (quick checks)')
    p.add_argument('--query-size', type=int,
                   help='use only the first N query images')
    p.add_argument('--out', help='write the accuracies as JSON here')
    p.add_argument('--launcher', default='none',
                   choices=('none', 'pytorch', 'slurm', 'mpi'))
    p.add_argument('--dist-timeout', type=float, default=120,
                   help='minutes a collective may wait (the other ranks '
                   "wait while rank 0 searches); default 120")
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    p.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.launcher != 'none':
        semaim_mm.compat.patch_mmengine_cpu_dist()
        dist.init_dist(args.launcher,
                       backend='nccl' if torch.cuda.is_available() else 'gloo',
                       timeout=int(args.dist_timeout * 60))  # seconds
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    knn = knn_settings(cfg)
    preflight(cfg, tool='knn', checkpoint=args.checkpoint,
              datasets=[knn['bank_dataset'], knn['query_dataset']])
    for key in ('feature', 'ks', 'temperature', 'batch_size', 'num_workers'):
        if getattr(args, key) is not None:
            knn[key] = getattr(args, key)
    from mmpretrain.registry import DATASETS
    bank = DATASETS.build(knn['bank_dataset'])
    query = DATASETS.build(knn['query_dataset'])
    if args.bank_size:
        bank = torch.utils.data.Subset(bank, range(min(args.bank_size,
                                                       len(bank))))
    if args.query_size:
        query = torch.utils.data.Subset(query, range(min(args.query_size,
                                                         len(query))))
    try:
        check_ks(knn.get('ks', (10, 20, 30)), len(bank))
    except ValueError as e:
        raise PreflightError(f'--ks: {e}') from None
    try:
        model = build_model(cfg, args.checkpoint)
    except (FileNotFoundError, KeyError, ValueError, RuntimeError) as e:
        raise SystemExit(f'error: {e.args[0] if e.args else e}')
    if torch.cuda.is_available():
        model = model.cuda()
    results = run_knn(model, bank, query,
                      ks=knn.get('ks', (10, 20, 30)),
                      temperature=knn.get('temperature', 0.07),
                      feature=knn.get('feature', 'gap'),
                      batch_size=knn.get('batch_size', 256),
                      num_workers=knn.get('num_workers', 0),
                      progress=True)
    if dist.get_rank() == 0:
        print(f"k-NN ({knn.get('feature', 'gap')} features, bank "
              f'{len(bank)}, queries {len(query)}):')
        for k, v in results.items():
            print(f'  {k}: {v:.2f}')
        if args.out:
            with open(args.out, 'w') as f:
                json.dump(results, f, indent=1)
    return results


if __name__ == '__main__':
    run_tool(main)
