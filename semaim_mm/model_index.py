"""This project's models in mmpretrain's model index.

:func:`register_model_index` adds ``model-index.yml`` (with its
``configs/*/metafile.yml``) to :class:`mmpretrain.apis.ModelHub`, so that
``mmpretrain.list_models('semaim*')``, ``get_model(NAME, pretrained=PATH)``
and ``inference_model`` know them. The index is read from the installed
package (``semaim_mm/.mim``, written by ``setup.py`` for a wheel) or, in a
source checkout, from the repository root.
"""
import os.path as osp
from typing import Optional

PACKAGE_DIR = osp.dirname(osp.abspath(__file__))
INDEX_NAME = 'model-index.yml'
# An installed package carries configs/ and the index in semaim_mm/.mim
# (setup.py); a source checkout has them beside the package. DATA_ROOT is
# the folder holding them, which config paths of specs are relative to.
INSTALLED = osp.isdir(osp.join(PACKAGE_DIR, '.mim'))
DATA_ROOT = osp.join(PACKAGE_DIR, '.mim') if INSTALLED else osp.dirname(
    PACKAGE_DIR)


def find_model_index() -> Optional[str]:
    """The index of this installation or checkout, else None."""
    path = osp.join(DATA_ROOT, INDEX_NAME)
    return path if osp.isfile(path) else None


def register_model_index() -> bool:
    """Register the index with mmpretrain's ModelHub once; False when no
    index ships with this installation."""
    from mmpretrain.apis import ModelHub
    path = find_model_index()
    if path is None:
        return False
    if not ModelHub.has('semaim_vitb_800e'):
        ModelHub.register_model_index(path, config_prefix=osp.dirname(path))
    return True
