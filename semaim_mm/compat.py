"""Version shims for the pinned OpenMMLab stack on current torch / numpy.

Only shims that can fire under the pinned versions
(``requirements/runtime.txt``: torch 2.14, numpy >= 1.24, < 2.4, mmengine
0.10.7) live here; each names the upstream versions it covers and is tested
in ``tests/foundation/test_compat.py``. The global patches, and why they are
global:

======================  ==========================  ==========================
patch                   applied                     why global
======================  ==========================  ==========================
numpy aliases           ``import semaim_mm``        mmdet / mmcv call them
(``np.float`` ...)      (:func:`apply`)             from their own modules, at
                                                    any time
``torch`` safe globals  ``import semaim_mm``        every ``torch.load`` of
for mmengine            (:func:`apply`)             an mmengine checkpoint
checkpoints                                         (resume, ``load_from``,
                                                    tools) reads them
mmengine CPU DDP        by the tools, only with     mmengine's own
(gloo, no               ``--launcher`` != none      ``init_dist`` /
``device_ids``)         (:func:`patch_mmengine_     ``Runner.wrap_model`` make
                        cpu_dist`)                  the calls
======================  ==========================  ==========================

``np.in1d`` / ``np.trapz`` (mmpretrain 1.2.0's retrieval metric) need no
alias: numpy removed them in 2.4, and the pin keeps numpy below it.

Atomic checkpoint writes are no patch: ``SafeCheckpointHook`` saves to a
temporary name and renames (``semaim_mm/engine/checkpoint.py``).
"""
import pickle
import warnings
from typing import Any, Dict, List

import numpy as np
import torch

_APPLIED: Dict[str, bool] = {}


# --- numpy -----------------------------------------------------------------
# numpy 1.24 (the pin's lower bound, so every pinned numpy) removed the
# builtin-type aliases that mmdet 3.3.0 (evaluation/functional/ytviseval.py:
# np.float) and mmcv 2.1.0 (ops/pixel_group.py: np.float) still use.
_NUMPY_ALIASES: Dict[str, type] = {
    'float': float,
    'int': int,
    'bool': bool,
    'object': object,
}


def patch_numpy_aliases() -> List[str]:
    """Restore removed numpy aliases; returns the names that were added."""
    added = []
    with warnings.catch_warnings():  # numpy 2 warns on looking up np.object
        warnings.simplefilter('ignore', FutureWarning)
        for name, value in _NUMPY_ALIASES.items():
            if not hasattr(np, name):
                setattr(np, name, value)
                added.append(name)
    return added


# --- torch.load weights_only -------------------------------------------------
# torch >= 2.6 loads with ``weights_only=True`` by default. mmengine 0.10.7 calls
# ``torch.load(filename, map_location=...)`` for ``load_from`` / ``--resume``, and
# its checkpoints hold numpy scalars/arrays (meta, seed) and the MessageHub state
# (``HistoryBuffer`` objects plus ``getattr(HistoryBuffer, 'mean')``-style
# references to its statistics methods). We allow-list exactly those, so loading
# stays free of arbitrary code execution. ``getattr`` is replaced by a function
# that resolves only HistoryBuffer's statistics methods.
# Trusted legacy files that need more: set TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1
# (torch's own switch; see README "Resuming and fault tolerance").


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    from mmengine.logging import HistoryBuffer
    # The four built-in statistics are registered lazily, on first instance.
    builtin = ('min', 'max', 'current', 'mean')
    if obj is HistoryBuffer and (name in builtin
                                 or name in HistoryBuffer._statistics_methods):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}), which is not on '
        'the allow-list; load only trusted files with '
        'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1')


def safe_checkpoint_globals() -> list:
    """The globals an mmengine checkpoint may contain, for ``weights_only``."""
    from mmengine.logging import HistoryBuffer
    core = getattr(np, '_core', None) or np.core  # numpy 2 renamed np.core
    allowed: list = [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        core.multiarray.scalar,
        core.multiarray._reconstruct,
        (_history_buffer_getattr, 'builtins.getattr'),
        (_history_buffer_getattr, '__builtin__.getattr'),
    ]
    if hasattr(np, 'dtypes'):  # numpy >= 1.25 pickles dtype classes
        allowed += [
            getattr(np.dtypes, n) for n in dir(np.dtypes)
            if n.endswith('DType')
        ]
    # numpy 1.x checkpoints name numpy.core.multiarray; numpy 2 loads them
    # through the same objects under the old path.
    if core is not getattr(np, 'core', core):
        allowed += [(core.multiarray.scalar, 'numpy.core.multiarray.scalar'),
                    (core.multiarray._reconstruct,
                     'numpy.core.multiarray._reconstruct')]
    return allowed


def patch_torch_load_allowlist() -> bool:
    """Allow-list mmengine checkpoint metadata for ``weights_only`` loading.

    Covers torch >= 2.6 (``weights_only=True`` by default; pinned: 2.14) with
    mmengine 0.10.x.
    """
    torch.serialization.add_safe_globals(safe_checkpoint_globals())
    return True


# --- mmengine distributed launch on CPU ----------------------------------------
# mmengine 0.10.7's ``_init_dist_pytorch`` and ``_init_dist_slurm`` always call
# ``torch.cuda.set_device`` and use the config's backend (nccl), so
# ``--launcher pytorch`` / ``slurm`` die on a machine without a GPU. Without
# CUDA we initialise the gloo backend instead. Its ``Runner.wrap_model`` also
# always passes ``device_ids=[LOCAL_RANK]`` to DDP, which torch rejects for CPU
# modules: they get ``device_ids=None``. Together these make
# ``tools/dist_train.sh CONFIG 2`` and ``tools/slurm_train.sh`` run on CPUs.
# Applied by the tools (train.py, test.py, knn_eval.py) when a launcher is
# given.


def patch_mmengine_cpu_dist() -> bool:
    """Let mmengine's distributed launch and DDP wrapping run on CPUs."""
    from mmengine.dist import utils as dist_utils
    original = dist_utils._init_dist_pytorch
    if getattr(original, '_semaim_cpu_patch', False):
        return True

    def init_dist_pytorch(backend, init_backend='torch', **kwargs):
        if torch.cuda.is_available() or init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        torch.distributed.init_process_group(backend='gloo', **kwargs)

    init_dist_pytorch._semaim_cpu_patch = True
    dist_utils._init_dist_pytorch = init_dist_pytorch

    original_slurm = dist_utils._init_dist_slurm

    def init_dist_slurm(backend, port=None, init_backend='torch', **kwargs):
        if torch.cuda.is_available() or init_backend != 'torch':
            return original_slurm(backend, port=port,
                                  init_backend=init_backend, **kwargs)
        # mmengine's own rank / address / port set-up from the SLURM_*
        # variables, minus its unconditional CUDA device selection.
        set_device = torch.cuda.set_device
        torch.cuda.set_device = lambda device: None
        try:
            original_slurm('gloo', port=port, **kwargs)
        finally:
            torch.cuda.set_device = set_device

    dist_utils._init_dist_slurm = init_dist_slurm

    from mmengine.model.wrappers import MMDistributedDataParallel as DDP
    ddp_init = DDP.__init__

    def cpu_aware_init(self, module, detect_anomalous_params=False,
                       **kwargs):
        if all(p.device.type == 'cpu' for p in module.parameters()):
            kwargs['device_ids'] = None
        ddp_init(self, module, detect_anomalous_params, **kwargs)

    DDP.__init__ = cpu_aware_init
    return True


def apply() -> Dict[str, bool]:
    """Apply the import-time shims once; returns which did something."""
    if not _APPLIED:
        _APPLIED['numpy_aliases'] = bool(patch_numpy_aliases())
        _APPLIED['torch_load_allowlist'] = patch_torch_load_allowlist()
    return dict(_APPLIED)
