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
``train_minus_val`` split (the train file without the validation hold-out of
:mod:`~semaim_mm.datasets.fashion_mnist`), items of the val split from its
test file, so no canvas a model trains on shows a validation image.

Provenance: each layout root (``coco/``, ``ade/``) holds :data:`META_FILE`,
written last, with the generator :data:`VERSION`, the item splits and the
options; the COCO ``info`` carries the same. Every COCO annotation records
the ``source_index`` of its item and every image the ``source_indices`` of
all items pasted on it (indices into the Fashion-MNIST file). Data of
another version, or without the file, is refused by the pre-flight
(:func:`semaim_mm.datasets.checks.check_mosaic_version`).

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
ITEM_SPLIT = {'train': 'train_minus_val', 'val': 'test'}
# Bumped whenever the canvases change: data of another version is refused.
# 2: train items exclude the Fashion-MNIST validation hold-out.
VERSION = 2
META_FILE = 'mosaic_meta.json'
LAYOUTS = {'coco': 'coco', 'ade20k': 'ade'}  # format -> layout root
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
        split: Fashion-MNIST split when ``data`` is ``None``
            (``'train_minus_val'``, ``'test'``, ``'val'``, ``'train'``);
            ``'custom'`` otherwise.
        data_root: where Fashion-MNIST lies (``None``: the usual places).
    """

    def __init__(self, data=None, split: str = 'train_minus_val',
                 data_root: Optional[str] = None) -> None:
        self._data = data
        self.split = split if data is None else 'custom'
        self.data_root = data_root
        # item i -> its index in the Fashion-MNIST file (None: the same)
        self._file_index: Optional[np.ndarray] = None

    def _load(self):
        if self._data is None:
            from .fashion_mnist import (SPLITS, FashionMNISTDataset,
                                        split_indices)
            data = FashionMNISTDataset(
                data_root=self.data_root,
                split=SPLITS.get(self.split, self.split), to_rgb=False,
                lazy_init=False)
            self._file_index = split_indices(
                self.split, np.asarray(data.get_gt_labels()))
            self._data = data
        return self._data

    def __len__(self) -> int:
        data = self._load()
        if self._file_index is not None:
            return len(self._file_index)
        return len(data[1]) if isinstance(data, tuple) else len(data)

    def file_index(self, idx: int) -> int:
        """Index of item ``idx`` in the Fashion-MNIST file (``data``'s own
        index for custom data)."""
        self._load()
        return int(idx if self._file_index is None
                   else self._file_index[idx])

    def get(self, idx: int) -> Tuple[np.ndarray, int]:
        data = self._load()
        idx = self.file_index(idx)
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
        Fashion-MNIST file); ``source_indices``: every item pasted (one
        hidden under later items has no instance).
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
        source_index = source.file_index(idx)
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
        placed.append(dict(box=box, label=label, source_index=source_index))
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
    return dict(img=img, seg_map=seg_map, instances=instances,
                source_indices=[p['source_index'] for p in placed])


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
    ``DIR/coco/annotations/instances_{split}.json`` (``info``: extra keys of
    the file's ``info``, e.g. the provenance)."""

    def __init__(self, root: str, split: str,
                 mask_format: str = 'polygon',
                 info: Optional[dict] = None) -> None:
        if mask_format not in ('polygon', 'rle'):
            raise ValueError(f"mask_format must be 'polygon' or 'rle', got "
                             f'{mask_format!r}')
        self.root, self.split, self.mask_format = root, split, mask_format
        self.info = dict(description='Fashion-MNIST mosaics', **(info or {}))
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
            dict(id=image_id, file_name=name, height=h, width=w,
                 source_indices=canvas['source_indices']))
        for inst in canvas['instances']:
            seg = (mask_to_polygons(inst['mask'])
                   if self.mask_format == 'polygon' else
                   mask_to_rle(inst['mask']))
            if self.mask_format == 'polygon' and not seg:
                continue
            self.annotations.append(
                dict(id=len(self.annotations) + 1, image_id=image_id,
                     category_id=inst['label'] + 1, bbox=inst['bbox'],
                     area=float(inst['area']), segmentation=seg, iscrowd=0,
                     source_index=inst['source_index']))

    def close(self) -> str:
        categories = [
            dict(id=i + 1, name=name, supercategory='fashion')
            for i, name in enumerate(FASHION_MNIST_CLASSES)
        ]
        with open(self.ann_file, 'w') as f:
            json.dump(dict(info=self.info,
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


def find_meta(path: str, levels: int = 3) -> Optional[str]:
    """The :data:`META_FILE` of the layout root that ``path`` lies in (the
    root itself, a folder in it or a file in one), or ``None``."""
    folder = osp.normpath(path if osp.isdir(path) else osp.dirname(path))
    for _ in range(levels):
        meta = osp.join(folder, META_FILE)
        if osp.isfile(meta):
            return meta
        folder = osp.dirname(folder)
    return None


def _check_fresh(roots: Sequence[str]) -> None:
    """Refuse to write into a layout root that holds files already: its
    canvases would mix with the new ones, and they may be a user's."""
    for root in roots:
        if osp.isdir(root) and os.listdir(root):
            raise FileExistsError(
                f'{root} exists and is not empty; move it aside (mv {root} '
                f'{root}.old) or choose another output folder')


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

    ``sources`` maps split -> :class:`ItemSource` (default:
    :data:`ITEM_SPLIT`, i.e. Fashion-MNIST ``train_minus_val`` items for
    ``train``, test items for ``val``); ``kwargs`` go to
    :func:`generate_canvas`. A layout root that exists and is not empty is
    refused (``FileExistsError``); each root gets its :data:`META_FILE` once
    all its canvases are written. Returns the written roots / annotation
    files.
    """
    if fmt not in ('coco', 'ade20k', 'both'):
        raise ValueError(f"fmt must be 'coco', 'ade20k' or 'both', got {fmt!r}")
    layouts = {key: osp.join(out_dir, sub) for key, sub in LAYOUTS.items()
               if fmt in (key, 'both')}
    _check_fresh(list(layouts.values()))
    sources = {split: (sources or {}).get(split) or ItemSource(
        split=ITEM_SPLIT[split], data_root=data_root) for split in SPLITS}
    meta = dict(version=VERSION, generator=__name__,
                item_splits={s: src.split for s, src in sources.items()},
                seed=seed, num_train=num_train, num_val=num_val,
                mask_format=mask_format, options=kwargs)
    out = {}
    for split, num in (('train', num_train), ('val', num_val)):
        writers = []
        if 'coco' in layouts:
            writers.append(CocoWriter(out_dir, split, mask_format, meta))
        if 'ade20k' in layouts:
            writers.append(AdeWriter(out_dir, split))
        for i, canvas in enumerate(
                generate_split(split, num, seed, sources[split],
                               data_root, **kwargs)):
            for writer in writers:
                writer.add(i, canvas)
        for writer in writers:
            key = 'coco' if isinstance(writer, CocoWriter) else 'ade20k'
            out[f'{key}_{split}'] = writer.close()
    for key, root in layouts.items():
        with open(osp.join(root, META_FILE), 'w') as f:
            json.dump(meta, f, indent=1)
        out[f'{key}_root'] = root
    return out
