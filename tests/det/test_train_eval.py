"""A few training iterations of the tiny mosaic config, then tools/test.py
reports bbox and segm AP from CocoMetric (~35 s on 2 idle cores)."""
import ast
import os.path as osp
import subprocess
import sys


def test_tiny_mosaic_train_then_test(tmp_path, repo_root, python_env):
    from semaim_mm.datasets import mosaic
    out = str(tmp_path / 'mosaic')
    mosaic.generate_mosaic(out, num_train=16, num_val=8, seed=0, fmt='coco')
    cfg = osp.join(repo_root, 'configs/det/'
                   'semaim_vit-tiny_mask-rcnn_fpn_fashion-mosaic.py')
    root = f'{out}/coco/'
    opts = [
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
        f'val_evaluator.ann_file={root}annotations/instances_val.json',
        f'test_evaluator.ann_file={root}annotations/instances_val.json',
        'val_dataloader.dataset.indices=8', 'test_dataloader.dataset.indices=8',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
        'train_cfg.max_iters=3', 'train_cfg.val_interval=100',
        'default_hooks.checkpoint.interval=3', 'param_scheduler.0.end=2',
        'param_scheduler.1.begin=2', 'param_scheduler.1.end=3',
        'param_scheduler.1.T_max=1',
    ]
    work = str(tmp_path / 'work')
    subprocess.run([sys.executable, f'{repo_root}/tools/train.py', cfg,
                    '--work-dir', work, '--cfg-options', *opts],
                   check=True, env=python_env, capture_output=True)
    ckpt = osp.join(work, 'iter_3.pth')
    assert osp.isfile(ckpt)
    res = subprocess.run([sys.executable, f'{repo_root}/tools/test.py', cfg,
                          ckpt, '--work-dir', work, '--cfg-options', *opts],
                         check=True, env=python_env, capture_output=True,
                         text=True)
    metrics = ast.literal_eval(res.stdout.strip().splitlines()[-1])
    for key in ('coco/bbox_mAP', 'coco/segm_mAP', 'coco/bbox_mAP_50',
                'coco/segm_mAP_50'):
        assert key in metrics and 0.0 <= metrics[key] <= 1.0
