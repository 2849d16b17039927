"""semaim-mm: SemAIM self-supervised pre-training on OpenMMLab.

Importing the package applies the version shims (:mod:`semaim_mm.compat`) and
registers the pre-training modules in mmpretrain's registries. It never imports
mmdet or mmseg: their modules live in ``semaim_mm.det`` / ``semaim_mm.seg`` and
are loaded by the configs that need them (``custom_imports``).
"""
from . import compat

compat.apply()

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__version__ = '0.1.0'
