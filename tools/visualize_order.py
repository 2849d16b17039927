"""Draw the SemAIM paper's Fig. 2 panels for images and a checkpoint.

    python tools/visualize_order.py CONFIG CKPT img1.jpg img2.png ... --out orders.png
    python tools/visualize_order.py configs/pretrain/semaim_vit-tiny-p4_fashion-mnist.py \
        work_dirs/demo/stages/HASH/work/iter_300.pth --fashion-mnist 0 1 2 3 --out orders.png

Per image: the input, the last block's CLS self-attention, the similarity map
S and the raster / stochastic / similarity / semantic / multi-centre orders
as heat maps (warm = predicted first). The arrays drawn are saved next to the
PNG as ``<out>.npz``.
"""
import argparse
import os.path as osp

import numpy as np
import torch
from mmengine.config import DictAction
from mmengine.logging import MMLogger

from semaim_mm.checkpoints import load_encoder_into, read_checkpoint
from semaim_mm.engine.options import check_options, load_config
from semaim_mm.preflight import preflight, run_tool
from semaim_mm.visualization import visualize_orders

# init_weights() logs every parameter at INFO
MMLogger.get_instance('mmengine', log_level='WARNING')


def load_images(paths, size):
    """RGB uint8 images of ``size`` (H, W), decoded by the training loader
    (``SafeLoadImageFromFile``: 16-bit, gray and alpha images become 8-bit
    colour the way training sees them)."""
    from PIL import Image

    from semaim_mm.datasets.safe_loading import SafeLoadImageFromFile
    loader = SafeLoadImageFromFile(on_error='raise')
    out = []
    for p in paths:
        rgb = loader(dict(img_path=p))['img'][..., ::-1]  # BGR -> RGB
        im = Image.fromarray(np.ascontiguousarray(rgb))
        out.append(np.asarray(im.resize((size[1], size[0]), Image.BICUBIC)))
    return np.stack(out)


def load_checkpoint(model, path: str) -> None:
    """The encoder of any checkpoint that holds one into ``model.backbone``
    (strictly)."""
    ckpt = read_checkpoint(path, source='CKPT')
    backbone = model.backbone
    keys = dict(new_keys=backbone.checkpoint_new_keys,
                unused_keys=backbone.checkpoint_unused_keys, source='CKPT')
    load_encoder_into(backbone, ckpt, **keys)


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='SemAIM pre-training config')
    p.add_argument('checkpoint', help="any checkpoint holding a SemAIM "
                   "encoder (pre-training, the authors', backbone, "
                   "classifier); 'none' = random weights")
    p.add_argument('images', nargs='*', help='image files')
    p.add_argument('--fashion-mnist', type=int, nargs='+', metavar='IDX',
                   help='use these Fashion-MNIST test images instead')
    p.add_argument('--out', default='orders.png')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args(argv)
    cfg = load_config(args.config)
    check_options(cfg, args.cfg_options)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if not (args.images or args.fashion_mnist):
        p.error('give image files or --fashion-mnist IDX ...')
    preflight(cfg, tool='visualize', checkpoint=args.checkpoint,
              images=args.images,
              datasets=[dict(type='FashionMNISTDataset', split='test')]
              if args.fashion_mnist else [])
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = MODELS.build(cfg.model)
    model.init_weights()
    if args.checkpoint != 'none':
        try:
            load_checkpoint(model, args.checkpoint)
        except (FileNotFoundError, KeyError, ValueError, RuntimeError) as e:
            raise SystemExit(f'error: {e.args[0] if e.args else e}')
    model.eval()
    size = model.backbone.patch_resolution
    size = (size[0] * model.backbone.patch_size,
            size[1] * model.backbone.patch_size)
    if args.fashion_mnist:
        from semaim_mm.datasets import FashionMNISTDataset
        ds = FashionMNISTDataset(split='test', pipeline=[])
        infos = [ds.get_data_info(i) for i in args.fashion_mnist]
        imgs = np.stack([i['img'] for i in infos])
        classes = FashionMNISTDataset.METAINFO['classes']
        titles = [f"#{i} {classes[info['gt_label']]}"
                  for i, info in zip(args.fashion_mnist, infos)]
    else:
        imgs = load_images(args.images, size)
        titles = [osp.basename(x) for x in args.images]
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float()
    pre = model.data_preprocessor
    x = (x - pre.mean.view(1, -1, 1, 1)) / pre.std.view(1, -1, 1, 1)
    visualize_orders(model, x, args.out, titles=titles, seed=args.seed)
    print(f'wrote {args.out} (data: {args.out}.npz)')
    return args.out


if __name__ == '__main__':
    run_tool(main)
