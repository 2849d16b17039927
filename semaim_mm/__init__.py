"""semaim-mm: SemAIM self-supervised pre-training on OpenMMLab.

``import semaim_mm`` imports what building and loading a model needs, and
nothing else:

* :mod:`semaim_mm.compat`: the version shims, applied once;
* :mod:`semaim_mm.models`: SemAIM and its parts, registered in mmpretrain's
  ``MODELS`` (with the leaf helpers they use: ``kernels``, ``seeding``,
  ``utils``, ``profiling.phases``);
* :mod:`semaim_mm.checkpoints`: every checkpoint format (student, the
  authors', teachers);
* the project's models in mmpretrain's model index
  (:mod:`semaim_mm.model_index`: ``mmpretrain.list_models('semaim*')``,
  ``get_model``).

Everything else registers when it is asked for: a config names it in
``custom_imports`` (``configs/_base_/default_runtime.py``: ``engine`` and
``datasets``; the k-NN configs: ``datasets``; detection / segmentation
configs: ``det`` / ``seg``), and a tool imports what it uses (``engine``,
``evaluation``, ``preflight``, ``profiling``, ...). Nothing here imports
mmdet or mmseg. ``tests/foundation/test_layering.py`` checks the modules a
fresh ``import semaim_mm`` loads and that every config's ``custom_imports``
register the project types it names.
"""
from . import compat

compat.apply()

from . import checkpoints, models  # noqa: E402,F401
from .model_index import register_model_index  # noqa: E402

register_model_index()

__version__ = '0.1.0'
