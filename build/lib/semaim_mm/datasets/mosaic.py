"""Fashion-MNIST mosaics: a small, real-image dataset for detection,
instance and semantic segmentation that builds in seconds on a CPU.

Each canvas (default 128x128, black) holds 2-5 Fashion-MNIST items, each
scaled by a random factor (default 1-2x, i.e. 28-56 px) and placed so that
their boxes do not overlap (``max_overlap`` allows a little). An item's mask
is its own pixels above ``threshold`` (after scaling), so boxes, polygons /
RLE, areas and label maps are all computed from the pixels.

Two on-disk layouts (see ``tools/dataset_converters/fashion_mosaic.py``):

* COCO instances: ``coco/{train,val}/*.png`` and
  ``coco/annotations/instances_{train,val}.json`` (category ids 1..10 =
  Fashion-MNIST classes 0..9); loads with mmdet's stock ``CocoDataset`` and
  ``metainfo=dict(classes=FASHION_MNIST_CLASSES)``.
* ADE20k-style semantic segmentation: ``ade/images/{training,validation}/
  *.png`` and ``ade/annotations/{training,validation}/*.png`` label maps with
  0 = background and class c -> c + 1, so ``reduce_zero_label=True`` yields
  classes 0..9 and background 255 (ignored), exactly as ADE20k.

Generation is deterministic: canvas ``i`` of split ``s`` depends only on
``(seed, s, i)`` and the generation options, so a larger set starts with the
canvases of a smaller one. Items of the train split come from Fashion-MNIST's
train images, items of the val split from its test images.

This module imports neither mmdet nor mmseg (only numpy, OpenCV, Pillow).
"""
import json
import os
import os.path as osp
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from PIL import Image

from .fashion_mnist import FASHION_MNIST_CLASSES

SPLITS = ('train', 'val')
# Fashion-MNIST split the items of each mosaic split are drawn from.
ITEM_SPLIT = {'train': 'train', 'val': 'test'}
ADE_SPLIT = {'train': 'training', 'val': 'validation'}
SPLIT_IDS = {'train': 0, 'val': 1}
# Fixed palette (RGB) for the 10 classes, for visualisers.
PALETTE = [(220, 20, 60), (119, 11, 32), (0, 0, 142), (0, 60, 100),
           (250, 170, 30), (100, 170, 30), (106, 0, 228), (0, 80, 100),
           (0, 0, 230), (255, 179, 240)]
METAINFO = dict(classes=FASHION_MNIST_CLASSES, palette=PALETTE)


class ItemSource:
    """Random access to (28x28 uint8 image, label) items.

    Args:
        data: ``None`` (Fashion-MNIST through
            :class:`~semaim_mm.datasets.FashionMNISTDataset`, loaded on first
            use), an ``(images (N, h, w) uint8, labels (N,))`` pair, or any
            object with ``__len__`` and ``get_data_info(i)`` returning
            ``img`` / ``gt_label``.
        split: Fashion-MNIST split (``'train'`` / ``'test'``) when ``data``
            is ``None``.
        data_root: where Fashion-MNIST lies (``None``: the usual places).
    """

    def __init__(self, data=None, split: str = 'train',
                 data_root: Optional[str] = None) -> None:
        self._data = data
        self.split = split
        self.data_root = data_root

    def _load(self):
        if self._data is None:
            from .fashion_mnist import FashionMNISTDataset
            self._data = FashionMNISTDataset(
                data_root=self.data_root, split=self.split, to_rgb=False,
                lazy_init=False)
        return self._data

    def __len__(self) -> int:
        data = self._load()
        return len(data[1]) if isinstance(data, tuple) else len(data)

    def get(self, idx: int) -> Tuple[np.ndarray, int]:
        data = self._load()
        if isinstance(data, tuple):
            img, label = data[0][idx], data[1][idx]
        else:
            info = data.get_data_info(idx)
            img, label = info['img'], info['gt_label']
        img = np.asarray(img)
        if img.ndim == 3:  # RGB-replicated or (h, w, 1): back to gray
            img = img[..., 0]
        return img.astype(np.uint8), int(label)


def _box_overlap(a: Sequence[int], b: Sequence[int]) -> float:
    """Intersection over the smaller box's area; boxes (x0, y0, x1, y1),
    exclusive ends."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / smaller


def mask_to_bbox(mask: np.ndarray) -> List[float]:
    """COCO ``[x, y, w, h]`` of a boolean mask (tight, pixel-inclusive)."""
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    return [float(x0), float(y0), float(xs.max() - x0 + 1),
            float(ys.max() - y0 + 1)]


def mask_to_rle(mask: np.ndarray) -> dict:
    """Uncompressed COCO RLE (column-major run lengths, starting with a run
    of zeros); pycocotools' ``frPyObjects`` and mmdet read it."""
    flat = np.asarray(mask, dtype=np.uint8).flatten(order='F')
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        counts = [0] + counts
    return dict(size=[int(mask.shape[0]), int(mask.shape[1])], counts=counts)


def mask_to_polygons(mask: np.ndarray) -> List[List[float]]:
    """Outer contours of a boolean mask as COCO polygons (pixel corners:
    the polygon traces the outside of the boundary pixels, so rasterising
    it gives back the mask, holes filled). Components of < 3 points are
    skipped."""
    # Upsample x2 so the contour can follow pixel corners, then map back.
    big = cv2.resize(mask.astype(np.uint8), None, fx=2, fy=2,
                     interpolation=cv2.INTER_NEAREST)
    big = np.pad(big, 1)
    contours, _ = cv2.findContours(big, cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        c = c.reshape(-1, 2).astype(np.float64) - 1  # undo the padding
        # Points on the x2 grid: pixel p of the mask covers [2p, 2p+1];
        # boundary points 2p map to corner p, 2p+1 to corner p+1.
        c = np.where(c % 2 == 1, (c + 1) / 2, c / 2)
        if len(c) >= 3:
            polys.append([round(float(v), 2) for v in c.flatten()])
    return polys


def generate_canvas(source: ItemSource,
                    rng: np.random.Generator,
                    canvas_size: Union[int, Tuple[int, int]] = 128,
                    num_items: Tuple[int, int] = (2, 5),
                    scale: Tuple[float, float] = (1., 2.),
                    threshold: int = 30,
                    max_overlap: float = 0.,
                    max_tries: int = 50) -> dict:
    """One mosaic.

    Returns:
        dict with ``img`` (H, W) uint8, ``seg_map`` (H, W) uint8 (0 =
        background, class c -> c + 1) and ``instances``: list of dicts with
        ``label`` (0..9), ``mask`` (H, W) bool, ``bbox`` ``[x, y, w, h]``,
        ``area`` (mask pixels), ``source_index`` (item index in its
        Fashion-MNIST split).
    """
    h, w = (canvas_size, canvas_size) if isinstance(canvas_size, int) \
        else tuple(canvas_size)
    lo, hi = num_items
    if not 1 <= lo <= hi:
        raise ValueError(f'num_items must be 1 <= min <= max, got {num_items}')
    n = int(rng.integers(lo, hi + 1))
    img = np.zeros((h, w), np.uint8)
    owner = np.full((h, w), -1, np.int64)  # which instance owns a pixel
    placed: List[dict] = []
    for _ in range(n):
        idx = int(rng.integers(len(source)))
        item, label = source.get(idx)
        for _ in range(max_tries):
            s = float(rng.uniform(*scale))
            ih = min(h, max(1, int(round(item.shape[0] * s))))
            iw = min(w, max(1, int(round(item.shape[1] * s))))
            y0 = int(rng.integers(0, h - ih + 1))
            x0 = int(rng.integers(0, w - iw + 1))
            box = (x0, y0, x0 + iw, y0 + ih)
            if all(_box_overlap(box, p['box']) <= max_overlap
                   for p in placed):
                break
        else:
            continue  # no room left for this item
        scaled = item if (ih, iw) == item.shape else cv2.resize(
            item, (iw, ih), interpolation=cv2.INTER_LINEAR)
        region = img[y0:y0 + ih, x0:x0 + iw]
        np.maximum(region, scaled, out=region)
        fg = scaled > threshold
        owner[y0:y0 + ih, x0:x0 + iw][fg] = len(placed)  # later on top
        placed.append(dict(box=box, label=label, source_index=idx))
    seg_map = np.zeros((h, w), np.uint8)
    instances = []
    for i, p in enumerate(placed):
        mask = owner == i
        if not mask.any():
            continue
        seg_map[mask] = p['label'] + 1
        instances.append(
            dict(label=p['label'], mask=mask, bbox=mask_to_bbox(mask),
                 area=int(mask.sum()), source_index=p['source_index']))
    return dict(img=img, seg_map=seg_map, instances=instances)


def generate_split(split: str,
                   num: int,
                   seed: int = 0,
                   source: Optional[ItemSource] = None,
                   data_root: Optional[str] = None,
                   **kwargs) -> Iterator[dict]:
    """Yield ``num`` canvases of ``split`` (``'train'`` / ``'val'``);
    canvas ``i`` uses the generator ``default_rng([seed, split_id, i])``.
    ``kwargs`` go to :func:`generate_canvas`."""
    if split not in SPLITS:
        raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
    source = source or ItemSource(split=ITEM_SPLIT[split],
                                  data_root=data_root)
    for i in range(num):
        rng = np.random.default_rng([seed, SPLIT_IDS[split], i])
        yield generate_canvas(source, rng, **kwargs)


def _save_png(path: str, array: np.ndarray) -> None:
    Image.fromarray(array).save(path)


class CocoWriter:
    """Writes ``DIR/coco/{split}/*.png`` and
    ``DIR/coco/annotations/instances_{split}.json``."""

    def __init__(self, root: str, split: str,
                 mask_format: str = 'polygon') -> None:
        if mask_format not in ('polygon', 'rle'):
            raise ValueError(f"mask_format must be 'polygon' or 'rle', got "
                             f'{mask_format!r}')
        self.root, self.split, self.mask_format = root, split, mask_format
        self.img_dir = osp.join(root, 'coco', split)
        self.ann_file = osp.join(root, 'coco', 'annotations',
                                 f'instances_{split}.json')
        os.makedirs(self.img_dir, exist_ok=True)
        os.makedirs(osp.dirname(self.ann_file), exist_ok=True)
        self.images, self.annotations = [], []

    def add(self, index: int, canvas: dict) -> None:
        name = f'{index:06d}.png'
        _save_png(osp.join(self.img_dir, name), canvas['img'])
        h, w = canvas['img'].shape[:2]
        image_id = index + 1
        self.images.append(
            dict(id=image_id, file_name=name, height=h, width=w))
        for inst in canvas['instances']:
            seg = (mask_to_polygons(inst['mask'])
                   if self.mask_format == 'polygon' else
                   mask_to_rle(inst['mask']))
            if self.mask_format == 'polygon' and not seg:
                continue
            self.annotations.append(
                dict(id=len(self.annotations) + 1, image_id=image_id,
                     category_id=inst['label'] + 1, bbox=inst['bbox'],
                     area=float(inst['area']), segmentation=seg, iscrowd=0))

    def close(self) -> str:
        categories = [
            dict(id=i + 1, name=name, supercategory='fashion')
            for i, name in enumerate(FASHION_MNIST_CLASSES)
        ]
        with open(self.ann_file, 'w') as f:
            json.dump(dict(info=dict(description='Fashion-MNIST mosaics'),
                           images=self.images, annotations=self.annotations,
                           categories=categories), f)
        return self.ann_file


class AdeWriter:
    """Writes ``DIR/ade/images/{training,validation}/*.png`` and the label
    maps ``DIR/ade/annotations/{training,validation}/*.png``."""

    def __init__(self, root: str, split: str) -> None:
        sub = ADE_SPLIT[split]
        self.img_dir = osp.join(root, 'ade', 'images', sub)
        self.ann_dir = osp.join(root, 'ade', 'annotations', sub)
        os.makedirs(self.img_dir, exist_ok=True)
        os.makedirs(self.ann_dir, exist_ok=True)

    def add(self, index: int, canvas: dict) -> None:
        name = f'{index:06d}.png'
        _save_png(osp.join(self.img_dir, name), canvas['img'])
        _save_png(osp.join(self.ann_dir, name), canvas['seg_map'])

    def close(self) -> str:
        return self.ann_dir


def generate_mosaic(out_dir: str,
                    num_train: int = 2000,
                    num_val: int = 200,
                    seed: int = 0,
                    fmt: str = 'both',
                    mask_format: str = 'polygon',
                    sources: Optional[Dict[str, ItemSource]] = None,
                    data_root: Optional[str] = None,
                    **kwargs) -> Dict[str, str]:
    """Generate both splits into ``out_dir`` in the COCO and/or ADE20k
    layout (``fmt``: ``'coco'``, ``'ade20k'`` or ``'both'``).

    ``sources`` maps split -> :class:`ItemSource` (default: Fashion-MNIST
    train items for ``train``, test items for ``val``); ``kwargs`` go to
    :func:`generate_canvas`. Returns the written roots / annotation files.
    """
    if fmt not in ('coco', 'ade20k', 'both'):
        raise ValueError(f"fmt must be 'coco', 'ade20k' or 'both', got {fmt!r}")
    sources = sources or {}
    out = {}
    for split, num in (('train', num_train), ('val', num_val)):
        writers = []
        if fmt in ('coco', 'both'):
            writers.append(CocoWriter(out_dir, split, mask_format))
        if fmt in ('ade20k', 'both'):
            writers.append(AdeWriter(out_dir, split))
        for i, canvas in enumerate(
                generate_split(split, num, seed, sources.get(split),
                               data_root, **kwargs)):
            for writer in writers:
                writer.add(i, canvas)
        for writer in writers:
            key = 'coco' if isinstance(writer, CocoWriter) else 'ade20k'
            out[f'{key}_{split}'] = writer.close()
    if fmt in ('coco', 'both'):
        out['coco_root'] = osp.join(out_dir, 'coco')
    if fmt in ('ade20k', 'both'):
        out['ade20k_root'] = osp.join(out_dir, 'ade')
    return out
