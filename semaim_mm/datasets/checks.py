"""Pre-flight checks of dataset folders and annotation files.

Pure python (json + os) at import: no torch, mmdet or mmseg import, and not
imported by ``import semaim_mm``; :func:`semaim_mm.preflight.preflight` calls
:func:`check_dataset_cfg` for every dataset a tool will read and, for
training, :func:`check_checkpoint_cfg`, so a missing folder, a broken
annotation file or a checkpoint that does not fit fails in a second with a
message naming the fix, not deep inside a dataset class (or after hours, in a
worker). The checkpoint checks import torch and the config's registry when a
checkpoint is given.
"""
import json
import os
import os.path as osp
from typing import Iterable, List, Optional

from mmengine.logging import print_log

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                  '.tiff', '.webp')
MOSAIC = 'fashion_mosaic'
SHOWN_BOXES = 3  # offenders named in a bad-box report


class DataCheckError(ValueError):
    """A dataset or annotation problem found before training."""


def _mosaic_command(out: str) -> str:
    return ('python tools/dataset_converters/fashion_mosaic.py --out '
            f'{out} --format both')


def _mosaic_dir(path: str) -> Optional[str]:
    """The mosaic output folder (named :data:`MOSAIC`) ``path`` lies in."""
    parts = osp.normpath(path).split(os.sep)
    return os.sep.join(parts[:parts.index(MOSAIC) + 1]) \
        if MOSAIC in parts else None


def data_fix(path: str, default: str) -> str:
    """The fix for missing data at ``path``: the mosaic generator for the
    Fashion-MNIST mosaic folders, else ``default``."""
    out = _mosaic_dir(path)
    return f'generate it: {_mosaic_command(out)}' if out else default


def check_mosaic_version(path: str) -> None:
    """Fashion-MNIST mosaic data at ``path`` (a layout root, a folder or a
    file in one) was made by this generator version. Mosaic data is known
    by its ``mosaic_meta.json`` or by lying in a :data:`MOSAIC` folder; a
    :data:`MOSAIC` folder without the file was made by the generator before
    version 2 (whose train canvases drew validation items too) or its
    generation was interrupted. Nothing is removed: the fix moves the data
    aside."""
    from .mosaic import META_FILE, VERSION, find_meta
    meta = find_meta(path)
    if meta is None:
        out = _mosaic_dir(path)
        if out is None:
            return
        why = (f'has no {META_FILE}: it was made by a mosaic generator '
               f'before version {VERSION} (train canvases drew items from '
               'the Fashion-MNIST validation hold-out too), or its '
               'generation was interrupted')
    else:
        try:
            with open(meta, encoding='utf-8') as f:
                version = json.load(f).get('version')
        except (ValueError, AttributeError):
            version = 'unreadable'
        if version == VERSION:
            return
        out = osp.dirname(osp.dirname(meta))
        why = (f'was made by mosaic generator version {version} ({meta}); '
               f'this code reads version {VERSION}')
    raise DataCheckError(
        f'Fashion-MNIST mosaic data {path!r} {why}. Fix: move it aside '
        f'(mv {out} {out}.old) and regenerate it: {_mosaic_command(out)}')


def _has_file(folder: str, exts: Iterable[str] = IMG_EXTENSIONS,
              limit: int = 100000) -> bool:
    seen = 0
    for _, _, files in os.walk(folder, followlinks=True):
        for name in files:
            if name.lower().endswith(tuple(exts)):
                return True
            seen += 1
            if seen > limit:
                return False
    return False


def check_image_folder(data_root: str, data_prefix: str = '',
                       ann_file: str = '') -> None:
    """An mmpretrain ``ImageNet`` / ``CustomDataset`` folder: exists and
    holds at least one image (or the annotation file exists)."""
    root = data_root or ''
    folder = osp.join(root, data_prefix) if data_prefix else root
    if not root and not data_prefix:
        raise DataCheckError('the dataset has neither data_root nor '
                             'data_prefix: set train_dataloader.dataset.'
                             'data_root')
    if not osp.isdir(folder):
        fix = data_fix(folder, 'put the data there (ImageNet: data/imagenet/'
                       'train/<class>/*.JPEG, see docs) or override it: '
                       '--cfg-options train_dataloader.dataset.data_root='
                       '/path/to/data')
        raise DataCheckError(f'dataset folder {folder!r} does not exist (cwd '
                             f'{os.getcwd()!r}). Fix: {fix}')
    if ann_file:
        ann = ann_file if osp.isabs(ann_file) else osp.join(root, ann_file)
        if not osp.isfile(ann):
            raise DataCheckError(
                f'annotation file {ann!r} does not exist. Fix: create it '
                "(one 'relative/path.jpg label' per line) or set "
                "train_dataloader.dataset.ann_file='' to scan the folder")
        if osp.getsize(ann) == 0:
            raise DataCheckError(f'annotation file {ann!r} is empty')
    elif not _has_file(folder):
        raise DataCheckError(
            f'dataset folder {folder!r} holds no image files '
            f'({", ".join(IMG_EXTENSIONS)}). Fix: check the path and that '
            'the archive was extracted (ImageNet train: one sub-folder per '
            'class).')


def _load_json(path: str) -> dict:
    if not osp.isfile(path):
        fix = data_fix(path, 'download annotations_trainval2017.zip into '
                       'data/coco/annotations or set ann_file / data_root')
        raise DataCheckError(
            f'COCO annotation file {path!r} does not exist. Fix: {fix}')
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise DataCheckError(
            f'COCO annotation file {path!r} is not valid JSON ({e}); it is '
            'probably truncated: download it again') from None
    except UnicodeDecodeError as e:
        raise DataCheckError(f'COCO annotation file {path!r} is not UTF-8 '
                             f'JSON ({e})') from None
    if not isinstance(data, dict):
        raise DataCheckError(f'COCO annotation file {path!r}: top level is '
                             f'{type(data).__name__}, expected an object')
    return data


def box_problem(box: list, image: dict) -> Optional[str]:
    """Why a COCO ``[x, y, w, h]`` box is unusable, or None."""
    x, y, w, h = box
    if w <= 0 or h <= 0:
        return f'has {"zero" if min(w, h) == 0 else "negative"} size'
    width, height = image.get('width'), image.get('height')
    if isinstance(width, (int, float)) and isinstance(height, (int, float)):
        # one pixel of slack: COCO's own boxes round past the border
        if x < -1 or y < -1 or x + w > width + 1 or y + h > height + 1:
            return f'lies outside its {width}x{height} image'
    return None


def report_bad_boxes(path: str, bad: List[str], total: int,
                     strict: bool) -> None:
    """Warn (or, with ``strict``, raise) about unusable boxes."""
    if not bad:
        return
    msg = (f'COCO annotation file {path!r}: {len(bad)} of {total} boxes have '
           'zero or negative size or lie outside their image (mmdet drops '
           'them without a word): ' + '; '.join(bad[:SHOWN_BOXES]) +
           ('; ...' if len(bad) > SHOWN_BOXES else ''))
    if strict:
        raise DataCheckError(msg + '. Fix the boxes, or drop --strict-data '
                             'to train without them.')
    print_log(msg + '. --strict-data makes this an error.',
              logger='current', level=30)


def check_coco_annotation(path: str, strict: bool = False) -> dict:
    """Parse a COCO instances file and check its structure and boxes;
    returns the parsed dict. Raises :class:`DataCheckError` naming the
    problem; bad boxes are reported (an error with ``strict``)."""
    data = _load_json(path)
    missing = [k for k in ('images', 'annotations', 'categories')
               if not isinstance(data.get(k), list)]
    if missing:
        raise DataCheckError(
            f'COCO annotation file {path!r} lacks the list(s) {missing}; '
            'is it a COCO *instances* file (not captions / a results file)?')
    for key in ('images', 'categories'):
        if not data[key]:
            raise DataCheckError(f'COCO annotation file {path!r} lists no '
                                 f'{key}')
    images = {}
    for i, img in enumerate(data['images']):
        if not isinstance(img, dict) or not {'id', 'file_name'} <= set(img):
            raise DataCheckError(f'COCO annotation file {path!r}: images[{i}]'
                                 " needs 'id' and 'file_name'")
        images[img['id']] = img
    cat_ids = {c.get('id') for c in data['categories']
               if isinstance(c, dict)}
    bad = []
    for i, ann in enumerate(data['annotations']):
        if not isinstance(ann, dict):
            raise DataCheckError(f'{path!r}: annotations[{i}] is not an '
                                 'object')
        where = f'annotations[{i}] (id {ann.get("id")})'
        box = ann.get('bbox')
        if not (isinstance(box, list) and len(box) == 4 and all(
                isinstance(v, (int, float)) for v in box)):
            raise DataCheckError(
                f'COCO annotation file {path!r}: {where} has bbox {box!r}; '
                'expected [x, y, w, h]')
        if ann.get('image_id') not in images:
            raise DataCheckError(
                f'COCO annotation file {path!r}: {where} refers to '
                f"image_id {ann.get('image_id')!r}, which is not in images")
        if ann.get('category_id') not in cat_ids:
            raise DataCheckError(
                f'COCO annotation file {path!r}: {where} has '
                f"category_id {ann.get('category_id')!r}, not in categories")
        problem = box_problem(box, images[ann['image_id']])
        if problem:
            bad.append(f'{where} bbox {box} {problem}')
    report_bad_boxes(path, bad, len(data['annotations']), strict)
    return data


def check_seg_folders(data_root: str, img_dir: str, ann_dir: str,
                      img_suffix: str, seg_suffix: str,
                      what: str = 'ADE20k') -> int:
    """An mmseg dataset: both folders exist, are non-empty and every image
    has its label map. Returns the number of pairs."""
    imgs = osp.join(data_root, img_dir)
    anns = osp.join(data_root, ann_dir)
    for folder, kind in ((imgs, 'image'), (anns, 'annotation')):
        if not osp.isdir(folder):
            fix = data_fix(folder, 'extract ADEChallengeData2016.zip into '
                           'data/ade/ (mmseg layout: images/training, '
                           'annotations/training) or set data_root')
            raise DataCheckError(f'{what} {kind} folder {folder!r} does not '
                                 f'exist. Fix: {fix}')
    names = sorted(f[:-len(img_suffix)] for f in os.listdir(imgs)
                   if f.endswith(img_suffix))
    if not names:
        raise DataCheckError(f'{what} image folder {imgs!r} holds no '
                             f'*{img_suffix} files')
    missing = [n for n in names
               if not osp.isfile(osp.join(anns, n + seg_suffix))]
    if missing:
        raise DataCheckError(
            f'{what}: {len(missing)} image(s) have no label map in {anns!r},'
            f' e.g. {missing[0]}{seg_suffix}; the annotation archive is '
            'incomplete or from another split')
    return len(names)


def check_ade20k(data_root: str, img_dir: str = 'images/training',
                 ann_dir: str = 'annotations/training',
                 img_suffix: str = '.jpg', seg_suffix: str = '.png') -> int:
    """ADE20k (mmseg layout); see :func:`check_seg_folders`."""
    return check_seg_folders(data_root, img_dir, ann_dir, img_suffix,
                             seg_suffix)


def _get(cfg, key, default=None):
    try:
        return cfg.get(key, default)
    except AttributeError:
        return default


def _check_fashion_mnist(ds) -> None:
    from .fashion_mnist import find_fashion_mnist
    try:
        find_fashion_mnist(_get(ds, 'data_root'), bool(_get(ds, 'download')))
    except FileNotFoundError as e:
        raise DataCheckError(str(e)) from None


def _check_seg(ds, kind: str, root: str, prefix) -> None:
    pre = prefix if isinstance(prefix, dict) else {}
    check_seg_folders(root, pre.get('img_path', 'images/training'),
                      pre.get('seg_map_path', 'annotations/training'),
                      _get(ds, 'img_suffix', '.jpg') or '.jpg',
                      _get(ds, 'seg_map_suffix', '.png') or '.png',
                      'ADE20k' if kind == 'ADE20KDataset' else 'segmentation')


def check_dataset_cfg(ds: dict, strict: bool = False) -> None:
    """Dispatch on the dataset type (wrappers are unwrapped)."""
    if ds is None:
        return
    # 'mmpretrain.CustomDataset' is a CustomDataset: the scope only picks
    # the registry
    kind = str(_get(ds, 'type', '')).rsplit('.', 1)[-1]
    for inner in ('dataset', 'datasets'):
        sub = _get(ds, inner)
        if isinstance(sub, (list, tuple)):
            for s in sub:
                check_dataset_cfg(s, strict)
            return
        if sub is not None and kind.endswith(('Wrapper', 'Dataset')) and \
                kind not in ('CocoDataset', 'ADE20KDataset'):
            check_dataset_cfg(sub, strict)
            return
    root = _get(ds, 'data_root', '') or ''
    prefix = _get(ds, 'data_prefix', '') or ''
    if kind in ('ImageNet', 'CustomDataset', 'ImageNet21k'):
        if isinstance(prefix, dict):
            prefix = prefix.get('img_path', prefix.get('img', '')) or ''
        if kind.startswith('ImageNet') and not prefix:
            prefix = _get(ds, 'split', '') or ''
        check_image_folder(root, prefix, _get(ds, 'ann_file', '') or '')
        check_mosaic_version(osp.join(root, prefix))
    elif kind == 'CocoDataset':
        ann = _get(ds, 'ann_file', '')
        if ann:
            ann = ann if osp.isabs(ann) else osp.join(root, ann)
            check_coco_annotation(ann, strict)
            check_mosaic_version(ann)
    elif kind in ('ADE20KDataset', 'BaseSegDataset'):
        _check_seg(ds, kind, root, prefix)
        check_mosaic_version(root)
    elif kind == 'FashionMNISTDataset':
        _check_fashion_mnist(ds)


def check_train_config(cfg) -> None:
    """Pre-flight checks for ``tools/train.py``: the training data exist and
    the checkpoints it starts from fit (:func:`check_checkpoint_cfg`)."""
    loader = _get(cfg, 'train_dataloader')
    if loader:
        check_dataset_cfg(_get(loader, 'dataset'))
    check_checkpoint_cfg(cfg)


def _message(e: Exception) -> str:
    return str(e.args[0]) if e.args else str(e)


def check_checkpoint_cfg(cfg) -> None:
    """Pre-flight for the checkpoints a config starts from: ``load_from`` /
    ``--resume`` and the backbone's ``Pretrained`` ``init_cfg`` are given,
    exist and hold what the model needs. The backbone check is a dry run of
    the encoder's own loader (the backbone built on CPU, its
    ``load_pretrained``), so a wrong format, missing encoder tensors or
    another width fail here with the loader's message, not inside the
    runner. Raises :class:`DataCheckError` naming the config key."""
    load_from: Optional[str] = _get(cfg, 'load_from')
    what = '--resume' if _get(cfg, 'resume') else 'load_from'
    if load_from is not None and '://' not in str(load_from):
        if not str(load_from).strip():
            raise DataCheckError(f'{what} is empty: give a checkpoint path '
                                 'or leave load_from=None')
        if not osp.isfile(load_from):
            raise DataCheckError(f'{what} checkpoint {load_from!r} does not '
                                 'exist')
        _check_load_from_kind(cfg, load_from, what)
    model = _get(cfg, 'model')
    init = _get(_get(model, 'backbone'), 'init_cfg')
    inits = init if isinstance(init, (list, tuple)) else [init]
    if any(_get(i, 'type') == 'Pretrained' for i in inits):
        _dry_run_backbone_init(cfg)


def _check_load_from_kind(cfg, path: str, what: str) -> None:
    """SemAIM pre-training: the checkpoint's format (an authors' one as
    ``load_from`` is converted on the fly; its blur must be the model's)."""
    model = _get(cfg, 'model')
    if _get(model, 'type') != 'SemAIM':
        return
    from semaim_mm.checkpoints import (BLUR_KEY, check_reference_blur,
                                       detect_format, expected_blur)
    from semaim_mm.checkpoints.kinds import kind_problem, peek_state_dict
    sd = peek_state_dict(path)
    if sd is None:
        return
    kind = detect_format(sd)
    problem = kind_problem(kind, what == '--resume')
    if problem:
        raise DataCheckError(f'{what}={path!r} cannot be used for SemAIM '
                             f'pre-training: {problem}.')
    target = _get(model, 'target_generator') or {}
    if kind == 'reference' and BLUR_KEY in sd and _get(
            target, 'type', 'RGBTargetGenerator') == 'RGBTargetGenerator':
        blur = (_get(target, 'blur_kernel', 9), _get(target, 'blur_sigma', 1.))
        try:
            check_reference_blur(sd[BLUR_KEY], expected_blur(blur))
        except ValueError as e:
            raise DataCheckError(f'load_from={path!r}: {_message(e)}')


def _dry_run_backbone_init(cfg) -> None:
    import copy
    import importlib

    from mmengine.registry import DefaultScope
    from mmengine.utils import import_modules_from_strings

    from semaim_mm.checkpoints import missing_checkpoint_message
    backbone_cfg = copy.deepcopy(cfg['model']['backbone'])
    inits = backbone_cfg.pop('init_cfg')
    inits = inits if isinstance(inits, (list, tuple)) else [inits]
    init = [i for i in inits if _get(i, 'type') == 'Pretrained'][-1]
    key = 'model.backbone.init_cfg.checkpoint'
    path = _get(init, 'checkpoint')
    if not path or ('://' not in str(path) and not osp.isfile(path)):
        raise DataCheckError(missing_checkpoint_message(key, path))
    if _get(cfg, 'custom_imports'):
        import_modules_from_strings(**cfg['custom_imports'])
    scope = _get(cfg, 'default_scope') or 'mmpretrain'
    registry = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope):
        backbone = registry.build(backbone_cfg)
    if not hasattr(backbone, 'load_pretrained'):
        return  # not a SemAIM encoder: mmengine's own Pretrained loading
    try:
        backbone.load_pretrained(path, _get(init, 'prefix'))
    except (FileNotFoundError, KeyError, ValueError, RuntimeError) as e:
        raise DataCheckError(f'{key}: {_message(e)}') from None
