"""semaim-mm: SemAIM self-supervised pre-training on OpenMMLab.

Importing the package applies the version shims (:mod:`semaim_mm.compat`),
registers the pre-training modules in mmpretrain's registries and the
project's models in mmpretrain's model index (:mod:`semaim_mm.model_index`:
``mmpretrain.list_models('semaim*')``, ``get_model``). It never imports
mmdet or mmseg: their modules live in ``semaim_mm.det`` / ``semaim_mm.seg`` and
are loaded by the configs that need them (``custom_imports``).
"""
from . import compat

compat.apply()

from . import datasets, engine, evaluation, models  # noqa: E402,F401
from .model_index import register_model_index  # noqa: E402

register_model_index()

__version__ = '0.1.0'
