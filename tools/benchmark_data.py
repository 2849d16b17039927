"""Benchmark the ImageNet pre-training data pipeline, images/s per worker.

    python tools/benchmark_data.py --num-images 200 --repeats 3

Writes synthetic JPEGs of ImageNet's typical size (default 500x375, smooth
random colour fields plus noise so the JPEGs compress like photos, quality
90) to a temporary directory, then runs, in this one process (= one data
loader worker), the pipeline of configs/_base_/datasets/imagenet_bs64_semaim.py
(SafeLoadImageFromFile -> RandomResizedCrop(224, (0.2, 1), bicubic,
pillow) -> RandomFlip(0.5) -> PackInputs) and mmengine's default_collate over
batches of 64. Reports images/s per worker and the workers one GPU needs to
feed ``--gpu-images-per-s``. See docs/benchmarks.md.
"""
import argparse
import json
import os
import os.path as osp
import tempfile
import time

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--num-images', type=int, default=200)
    p.add_argument('--width', type=int, default=500)
    p.add_argument('--height', type=int, default=375)
    p.add_argument('--quality', type=int, default=90)
    p.add_argument('--batch', type=int, default=64,
                   help='images per GPU per step (collate size)')
    p.add_argument('--repeats', type=int, default=3,
                   help='passes over the images (median reported)')
    p.add_argument('--gpu-images-per-s', type=float, default=None,
                   help='a GPU step rate to size num_workers for')
    p.add_argument('--config',
                   default='configs/_base_/datasets/imagenet_bs64_semaim.py')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--json', default=None)
    return p.parse_args(argv)


def write_jpegs(root, n, w, h, quality, seed=0):
    """Smooth random colour fields (upsampled 8x6 noise) + pixel noise."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        low = rng.uniform(0, 255, (6, 8, 3)).astype(np.uint8)
        img = np.asarray(Image.fromarray(low).resize((w, h),
                                                     Image.BICUBIC))
        img = np.clip(img + rng.normal(0, 12, img.shape), 0,
                      255).astype(np.uint8)
        path = osp.join(root, f'{i:06d}.jpg')
        Image.fromarray(img).save(path, quality=quality)
        paths.append(path)
    return paths


def main(argv=None):
    args = parse_args(argv)
    import semaim_mm  # noqa: F401
    from mmengine.config import Config
    from mmengine.dataset import Compose, default_collate
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    cfg_path = args.config if osp.isabs(args.config) else osp.join(
        root, args.config)
    pipeline = Compose(Config.fromfile(cfg_path).train_pipeline)
    import torch
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_jpegs(tmp, args.num_images, args.width, args.height,
                            args.quality, args.seed)
        mean_kb = np.mean([os.path.getsize(p) for p in paths]) / 1024
        rates, phase = [], {'pipeline': [], 'collate': []}
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            t_pipe = t_coll = 0.0
            batch = []
            for i, p in enumerate(paths):
                t = time.perf_counter()
                batch.append(pipeline(dict(img_path=p, sample_idx=i)))
                t_pipe += time.perf_counter() - t
                if len(batch) == args.batch or i == len(paths) - 1:
                    t = time.perf_counter()
                    default_collate(batch)
                    t_coll += time.perf_counter() - t
                    batch = []
            dt = time.perf_counter() - t0
            rates.append(len(paths) / dt)
            phase['pipeline'].append(t_pipe / len(paths) * 1e3)
            phase['collate'].append(t_coll / len(paths) * 1e3)
    rate = float(np.median(rates))
    out = dict(
        images=args.num_images, size=[args.width, args.height],
        jpeg_quality=args.quality, mean_jpeg_kib=mean_kb, batch=args.batch,
        images_per_s_per_worker=rate, samples=rates,
        ms_per_image_pipeline=float(np.median(phase['pipeline'])),
        ms_per_image_collate=float(np.median(phase['collate'])),
        workers_for_one_batch_per_s=args.batch / rate,
        loadavg=os.getloadavg())
    print(f'{args.num_images} JPEGs {args.width}x{args.height} '
          f'(q{args.quality}, {mean_kb:.0f} KiB): '
          f'{rate:.1f} images/s per worker (runs: '
          + ', '.join(f'{r:.1f}' for r in rates) + ')')
    print(f'  per image: pipeline {out["ms_per_image_pipeline"]:.2f} ms, '
          f'collate {out["ms_per_image_collate"]:.2f} ms')
    print(f'  {args.batch} images/GPU/step: each worker supplies one batch '
          f'every {args.batch / rate:.2f} s')
    if args.gpu_images_per_s:
        need = args.gpu_images_per_s / rate
        out['workers_needed_per_gpu'] = need
        print(f'  a GPU at {args.gpu_images_per_s:.0f} images/s needs '
              f'num_workers >= {int(np.ceil(need))} (+1-2 headroom)')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == '__main__':
    main()
