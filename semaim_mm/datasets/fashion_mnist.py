"""Fashion-MNIST, the embedded default data (real images, 60k train / 10k
test, 10 classes), read straight from the IDX files.

The 60k training file holds two splits of this module's own: ``'val'``, a
class-balanced hold-out of 10000 images (1000 per class, fixed indices:
:func:`val_indices`) on which recipes are chosen, and ``'train_minus_val'``,
the other 50000, which is all that pre-training, fine-tuning, k-NN banks and
linear probes of the reproduction matrix may read. ``'test'`` is the 10k
test file, read only by the matrix's final cells."""
import gzip
import os.path as osp
import subprocess
from typing import List, Optional

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

from ..utils import check_choice
from .subset import balanced_indices

FASHION_MNIST_CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress',
                         'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag',
                         'Ankle boot')
SPLIT_FILES = {
    'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
    'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'),
}
# split -> the file it is read from; 'val' and 'train_minus_val' partition
# the train file.
SPLITS = {'train': 'train', 'train_minus_val': 'train', 'val': 'train',
          'test': 'test'}
VAL_PER_CLASS = 1000
VAL_SEED = 20261207  # fixed for good: changing it moves the hold-out
DEBIAN_PACKAGE = 'dataset-fashion-mnist'
DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'
LOCAL_DIR = osp.join('data', 'fashion_mnist')


def read_idx(path: str) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a uint8 array."""
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f'{path} is not an unsigned-byte IDX file')
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f'{path} is truncated: expected {int(np.prod(dims))} '
                         f'values, found {data.size}')
    return data.reshape(dims)


def _find_file(root: str, name: str) -> Optional[str]:
    for candidate in (name, name + '.gz'):
        path = osp.join(root, candidate)
        if osp.isfile(path):
            return path
    return None


def _has_split_files(root: str) -> bool:
    return all(
        _find_file(root, n) for files in SPLIT_FILES.values() for n in files)


def _debian_dir() -> Optional[str]:
    if _has_split_files(DEBIAN_DIR):
        return DEBIAN_DIR
    try:  # the package's own file list, wherever the share dir is
        out = subprocess.run(['dpkg', '-L', DEBIAN_PACKAGE],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.stdout.splitlines():
        if line.endswith('train-images-idx3-ubyte.gz'):
            return osp.dirname(line)
    return None


def find_fashion_mnist(data_root: Optional[str] = None,
                       download: bool = False) -> str:
    """Folder holding the four Fashion-MNIST IDX files.

    Looks at ``data_root`` (when given), then Debian's
    ``dataset-fashion-mnist`` package, then ``data/fashion_mnist``; with
    ``download=True`` it finally uses torchvision's downloader into
    ``data/fashion_mnist``.
    """
    if data_root:
        if _has_split_files(data_root):
            return data_root
        raw = osp.join(data_root, 'FashionMNIST', 'raw')  # torchvision layout
        if _has_split_files(raw):
            return raw
    found = _debian_dir()
    if found:
        return found
    for root in (LOCAL_DIR, osp.join(LOCAL_DIR, 'FashionMNIST', 'raw')):
        if _has_split_files(root):
            return root
    if download:
        from torchvision.datasets import FashionMNIST as TVFashionMNIST
        for train in (True, False):
            TVFashionMNIST(LOCAL_DIR, train=train, download=True)
        return osp.join(LOCAL_DIR, 'FashionMNIST', 'raw')
    raise FileNotFoundError(
        'Fashion-MNIST not found' +
        (f' in {data_root!r}' if data_root else '') + '. Provide it one of '
        f'three ways: (1) `apt-get install {DEBIAN_PACKAGE}` (Debian/Ubuntu; '
        '`make install` does this when run as root); (2) put '
        'train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], '
        't10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz] in '
        f'{LOCAL_DIR}/ (or pass data_root); (3) set download=True in the '
        "dataset config to fetch it with torchvision's downloader.")


def val_indices(labels: np.ndarray) -> np.ndarray:
    """Sorted indices (into the train file) of the validation hold-out:
    :data:`VAL_PER_CLASS` images of every class drawn with
    :data:`VAL_SEED`."""
    return balanced_indices(labels, VAL_PER_CLASS, VAL_SEED)


def split_indices(split: str, labels: np.ndarray) -> Optional[np.ndarray]:
    """Indices of ``split`` into its file's images (``None``: all)."""
    if split not in ('val', 'train_minus_val'):
        return None
    val = val_indices(labels)
    if split == 'val':
        return val
    keep = np.ones(len(labels), dtype=bool)
    keep[val] = False
    return np.flatnonzero(keep)


@DATASETS.register_module()
class FashionMNISTDataset(BaseDataset):
    """Fashion-MNIST as an mmpretrain dataset.

    Each item has ``img`` (28, 28, 3) uint8 (gray replicated to RGB, so ViT
    pipelines written for ImageNet apply unchanged; ``to_rgb=False`` keeps
    (28, 28)) and ``gt_label`` in 0..9.

    Args:
        data_root: folder with the IDX files; ``None`` searches the usual
            places (see :func:`find_fashion_mnist`).
        split: ``'train'`` (the whole 60k file), ``'train_minus_val'``
            (50k: train without the validation hold-out), ``'val'`` (the
            10k hold-out, 1000 per class) or ``'test'`` (10k).
        download: allow torchvision's downloader as a last resort.
        to_rgb: replicate the gray channel three times.
        indices: int or sequence, keep a subset (mmengine semantics).
    """
    METAINFO = {'classes': FASHION_MNIST_CLASSES}

    def __init__(self,
                 data_root: Optional[str] = None,
                 split: str = 'train',
                 download: bool = False,
                 to_rgb: bool = True,
                 **kwargs) -> None:
        check_choice('split', split, sorted(SPLITS))
        self.split = split
        self.download = download
        self.to_rgb = to_rgb
        self._search_root = data_root
        super().__init__(ann_file='', data_root='', **kwargs)

    def load_data_list(self) -> List[dict]:
        root = find_fashion_mnist(self._search_root, self.download)
        img_name, label_name = SPLIT_FILES[SPLITS[self.split]]
        imgs = read_idx(_find_file(root, img_name))
        labels = read_idx(_find_file(root, label_name)).astype(np.int64)
        if imgs.ndim != 3 or len(imgs) != len(labels):
            raise ValueError(f'{root}: images {imgs.shape} and labels '
                             f'{labels.shape} do not match')
        if labels.min() < 0 or labels.max() >= len(FASHION_MNIST_CLASSES):
            raise ValueError(f'{root}: labels outside 0..9')
        self.data_dir = root
        keep = split_indices(self.split, labels)
        if keep is not None:
            imgs, labels = imgs[keep], labels[keep]
        return [dict(img=img, gt_label=int(label))
                for img, label in zip(imgs, labels)]

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        if self.to_rgb and info['img'].ndim == 2:
            info['img'] = np.repeat(info['img'][..., None], 3, axis=-1)
        return info
