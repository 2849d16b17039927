"""Real photos with annotations that install here: the examples shipped in
labelme 6.3.1's source distribution (PASCAL VOC 2011 photos; labelme is
GPL-3.0, so they are fetched, never committed).

* ``coco``: ``examples/instance_segmentation/data_dataset_coco``
  (``JPEGImages/*.jpg`` + ``annotations.json``, COCO polygons), for mmdet's
  ``CocoDataset``;
* ``voc``: ``examples/semantic_segmentation/data_dataset_voc``
  (``JPEGImages``, ``SegmentationClass`` palette PNGs, ``class_names.txt``;
  an ``ImageSets/Segmentation/val.txt`` listing is added), for mmseg's
  ``PascalVOCDataset``.
"""
import glob
import os
import os.path as osp
import subprocess
import sys
import tarfile
import tempfile
from typing import Dict, Optional

VERSION = '6.3.1'
MEMBERS = {
    'coco': 'examples/instance_segmentation/data_dataset_coco/',
    'voc': 'examples/semantic_segmentation/data_dataset_voc/',
}
DEFAULT_DIR = osp.join(osp.expanduser('~'), '.cache', 'semaim_mm',
                       f'labelme-{VERSION}')


def _complete(root: str) -> bool:
    return (osp.isfile(osp.join(root, 'coco', 'annotations.json'))
            and osp.isfile(osp.join(root, 'voc', 'ImageSets', 'Segmentation',
                                    'val.txt')))


def fetch_labelme_examples(dest: Optional[str] = None,
                           sdist: Optional[str] = None) -> Dict[str, str]:
    """Folders of the two example datasets, downloading the sdist with pip
    (``pip download --no-deps --no-binary labelme labelme==6.3.1``) on first
    use; ``sdist`` may name an already downloaded ``.tar.gz``."""
    root = dest or os.environ.get('SEMAIM_LABELME_DIR') or DEFAULT_DIR
    paths = {k: osp.join(root, k) for k in MEMBERS}
    if _complete(root):
        return paths
    with tempfile.TemporaryDirectory() as tmp:
        if sdist is None:
            # Only labelme itself as source: with ':all:' pip would also
            # build its build backend from source, which can hang.
            cmd = [sys.executable, '-m', 'pip', 'download', '--no-deps',
                   '--no-binary', 'labelme', f'labelme=={VERSION}', '-d', tmp]
            done = subprocess.run(cmd, capture_output=True, text=True)
            found = glob.glob(osp.join(tmp, f'labelme-{VERSION}.tar.gz'))
            if done.returncode or not found:
                raise RuntimeError(
                    f'could not download labelme {VERSION} with pip '
                    f'({done.stderr.strip()[-300:]}); download it yourself '
                    'and pass sdist=PATH / --sdist PATH')
            sdist = found[0]
        prefix = f'labelme-{VERSION}/'
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                for key, sub in MEMBERS.items():
                    if member.isfile() and member.name.startswith(prefix + sub):
                        rel = member.name[len(prefix + sub):]
                        target = osp.join(paths[key], rel)
                        os.makedirs(osp.dirname(target), exist_ok=True)
                        with tar.extractfile(member) as src, \
                                open(target, 'wb') as dst:
                            dst.write(src.read())
    names = sorted(
        osp.splitext(f)[0]
        for f in os.listdir(osp.join(paths['voc'], 'SegmentationClass')))
    split_dir = osp.join(paths['voc'], 'ImageSets', 'Segmentation')
    os.makedirs(split_dir, exist_ok=True)
    with open(osp.join(split_dir, 'val.txt'), 'w') as f:
        f.write('\n'.join(names) + '\n')
    return paths


if __name__ == '__main__':
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default=None, help=f'default {DEFAULT_DIR}')
    parser.add_argument('--sdist', default=None)
    args = parser.parse_args()
    print(fetch_labelme_examples(args.out, args.sdist))
