"""Generate the Fashion-MNIST mosaic dataset (COCO instances and/or the
ADE20k semantic-segmentation layout).

Example::

    python tools/dataset_converters/fashion_mosaic.py --out data/fashion_mosaic \
        --format both --num-train 2000 --num-val 200 --seed 0

Layout (``--out DIR``)::

    DIR/coco/{train,val}/000000.png
    DIR/coco/annotations/instances_{train,val}.json   # category ids 1..10
    DIR/ade/images/{training,validation}/000000.png
    DIR/ade/annotations/{training,validation}/000000.png  # 0 = bg, c -> c+1
    DIR/{coco,ade}/mosaic_meta.json   # generator version, item splits, options

Train canvases draw their items from Fashion-MNIST ``train_minus_val`` (the
train file without the validation hold-out), val canvases from the test
file. A layout folder that exists and is not empty is refused: move it
aside first. See :mod:`semaim_mm.datasets.mosaic` for the generation itself.
"""
import argparse
import time

from semaim_mm.datasets.mosaic import generate_mosaic


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', required=True, help='output folder')
    p.add_argument('--format', default='both',
                   choices=['coco', 'ade20k', 'both'])
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--num-train', type=int, default=2000)
    p.add_argument('--num-val', type=int, default=200)
    p.add_argument('--canvas-size', type=int, nargs='+', default=[128],
                   help='H [W] of each canvas (default 128)')
    p.add_argument('--min-items', type=int, default=2)
    p.add_argument('--max-items', type=int, default=5)
    p.add_argument('--min-scale', type=float, default=1.)
    p.add_argument('--max-scale', type=float, default=2.)
    p.add_argument('--threshold', type=int, default=30,
                   help='item pixel > threshold belongs to its mask')
    p.add_argument('--max-overlap', type=float, default=0.,
                   help='largest allowed box intersection / smaller box area')
    p.add_argument('--mask-format', default='polygon',
                   choices=['polygon', 'rle'],
                   help='COCO segmentation: polygons (outer contours, holes '
                   'filled) or uncompressed RLE (exact)')
    p.add_argument('--data-root', default=None,
                   help='Fashion-MNIST folder (default: search the usual '
                   'places, e.g. the Debian package)')
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    size = args.canvas_size
    if len(size) not in (1, 2):
        raise SystemExit('--canvas-size takes H or H W')
    t = time.time()
    try:
        out = generate_mosaic(
            args.out, args.num_train, args.num_val, args.seed, args.format,
            args.mask_format, data_root=args.data_root,
            canvas_size=size[0] if len(size) == 1 else tuple(size),
            num_items=(args.min_items, args.max_items),
            scale=(args.min_scale, args.max_scale), threshold=args.threshold,
            max_overlap=args.max_overlap)
    except (FileExistsError, FileNotFoundError) as e:
        raise SystemExit(f'error: {e}') from None
    for k, v in sorted(out.items()):
        print(f'{k}: {v}')
    print(f'done in {time.time() - t:.1f}s')


if __name__ == '__main__':
    main()
