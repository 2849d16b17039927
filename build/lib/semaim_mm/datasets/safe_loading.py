"""Image loading that survives bad files: ``SafeLoadImageFromFile``.

Drop-in for mmcv's ``LoadImageFromFile`` in a training pipeline:

* corrupt, empty or truncated files (JPEG without its end marker, PNG without
  ``IEND``, undecodable bytes, unreadable paths) are skipped with a counted
  warning (``on_error='skip'``; mmengine's dataset then draws another
  sample), or raise :class:`BadImageError` naming the file and the fix
  (``on_error='raise'``); ``max_skips`` bounds how many are tolerated;
* grayscale, gray+alpha, RGBA and 16-bit images become 3-channel uint8
  (BGR, like mmcv), whatever the decoder backend returned.
"""
from typing import Optional

import mmcv
import numpy as np
from mmengine import fileio
from mmengine.logging import print_log
from mmpretrain.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

from ..utils import check_choice


class BadImageError(IOError):
    """An image file that cannot be used for training."""


_JPEG_START, _JPEG_END = b'\xff\xd8', b'\xff\xd9'
_PNG_START = b'\x89PNG\r\n\x1a\n'


def truncation_problem(data: bytes) -> Optional[str]:
    """Why ``data`` looks truncated (JPEG / PNG only), or None."""
    if not data:
        return 'file is empty'
    if data[:2] == _JPEG_START:
        # EOI marker, possibly followed by padding / trailing metadata.
        if _JPEG_END not in data[-1024:]:
            return 'JPEG is truncated (no end-of-image marker)'
    elif data[:8] == _PNG_START:
        if b'IEND' not in data[-32:]:
            return 'PNG is truncated (no IEND chunk)'
    return None


def to_uint8_bgr(img: np.ndarray) -> np.ndarray:
    """3-channel uint8 from gray / gray+alpha / RGBA / 16-bit / float."""
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype in (np.float32, np.float64):
        hi = float(img.max()) if img.size else 0.0
        img = np.clip(img * (255.0 if hi <= 1.0 else 1.0), 0, 255)
        img = img.astype(np.uint8)
    elif img.dtype != np.uint8:
        raise BadImageError(f'unsupported pixel type {img.dtype}')
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 2:  # gray + alpha
        img = np.repeat(img[..., :1], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 4:  # drop alpha
        img = img[..., :3]
    if img.ndim != 3 or img.shape[2] != 3:
        raise BadImageError(f'unsupported image shape {img.shape}')
    return np.ascontiguousarray(img)


WARN_FIRST = 3  # skipped files named one by one; then powers of ten


def _warn_skip(count: int, filename: str, error: Exception) -> None:
    """Log the first few skips in full, then one summary at every power of
    ten, so a broken folder does not flood the log."""
    if count <= WARN_FIRST:
        msg = (f'SafeLoadImageFromFile: skipping bad image {filename}: '
               f'{error} ({count} skipped so far in this process). Fix: '
               're-download or delete the file.')
        if count == WARN_FIRST:
            msg += (' Further skips are counted and logged at 10, 100, '
                    '1000, ... .')
    elif count == 10 ** (len(str(count)) - 1):
        msg = (f'SafeLoadImageFromFile: {count} bad images skipped so far '
               f'in this process (latest {filename}: {error}).')
    else:
        return
    print_log(msg, logger='current', level=30)


@TRANSFORMS.register_module()
class SafeLoadImageFromFile(BaseTransform):
    """Load an image; skip or reject bad files with a clear message.

    Args:
        on_error: ``'skip'`` (return None: the dataset draws another
            sample; training only) or ``'raise'``.
        max_skips: raise after this many skipped files in this process
            (0 = no limit).
        check_truncation: reject JPEG/PNG files missing their end marker
            (cv2 decodes them silently, grey-filling the missing part).
        color_type, imdecode_backend, backend_args, to_float32: as mmcv's
            ``LoadImageFromFile``; ``color_type='color'`` output is always
            3-channel uint8.
    """

    skipped = 0  # per process, over all instances

    def __init__(self, on_error: str = 'skip', max_skips: int = 1000,
                 check_truncation: bool = True, color_type: str = 'color',
                 imdecode_backend: str = 'cv2', to_float32: bool = False,
                 backend_args: Optional[dict] = None) -> None:
        check_choice('on_error', on_error, ('skip', 'raise'))
        self.on_error = on_error
        self.max_skips = max_skips
        self.check_truncation = check_truncation
        self.color_type = color_type
        self.imdecode_backend = imdecode_backend
        self.to_float32 = to_float32
        self.backend_args = backend_args

    def _load(self, filename: str) -> np.ndarray:
        try:
            data = fileio.get(filename, backend_args=self.backend_args)
        except FileNotFoundError:
            raise BadImageError('file does not exist')
        except OSError as e:
            raise BadImageError(f'cannot read file ({e})')
        if self.check_truncation:
            problem = truncation_problem(data)
            if problem:
                raise BadImageError(problem)
        try:
            img = mmcv.imfrombytes(data, flag=self.color_type,
                                   backend=self.imdecode_backend)
        except Exception as e:  # decoders raise many types
            raise BadImageError(f'cannot decode ({type(e).__name__}: {e})')
        if img is None or img.size == 0:
            raise BadImageError('cannot decode (not an image, or corrupt)')
        if self.color_type == 'color':
            img = to_uint8_bgr(img)
        return img

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        try:
            img = self._load(filename)
        except BadImageError as e:
            cls = type(self)
            if self.on_error == 'raise':
                raise BadImageError(
                    f'Bad image {filename}: {e}. Fix: re-download or delete '
                    'the file (and its line in the annotation file), or set '
                    "SafeLoadImageFromFile on_error='skip' to skip such "
                    'files.') from None
            cls.skipped += 1
            if self.max_skips and cls.skipped > self.max_skips:
                raise BadImageError(
                    f'Bad image {filename}: {e}. {cls.skipped} bad images '
                    f'skipped in this process, more than max_skips='
                    f'{self.max_skips}: the dataset looks broken (check the '
                    'data root and the copy), or raise max_skips.') from None
            _warn_skip(cls.skipped, filename, e)
            return None
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(on_error={self.on_error!r}, '
                f'max_skips={self.max_skips}, color_type='
                f'{self.color_type!r}, imdecode_backend='
                f'{self.imdecode_backend!r})')

