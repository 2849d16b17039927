"""Evaluate a checkpoint with a config of this project: everything
``tools/test.py`` does after parsing its command line, as a function.

The launcher's environment, the config file and its ``cfg_options`` keys,
then the pre-flight (test data, annotations, checkpoint kind) are checked
before anything is built; user mistakes raise one of
:data:`semaim_mm.preflight.USER_ERRORS` (``tools/test.py`` prints it as
``error: ...``).
"""
from typing import Any, Dict, Optional, Union

from mmengine.config import Config

# Imported for their registrations: the datasets, transforms and metrics
# that the project's configs name.
import semaim_mm.datasets  # noqa: F401
import semaim_mm.evaluation  # noqa: F401
from semaim_mm.engine import build_runner
from semaim_mm.preflight import preflight

from .training import checked_config


def test(cfg: Union[str, Config],
         checkpoint: str,
         work_dir: Optional[str] = None,
         *,
         out: Optional[str] = None,
         cfg_options: Optional[Dict[str, Any]] = None,
         launcher: str = 'none',
         strict_data: bool = False,
         preflight_only: bool = False) -> Optional[Dict[str, Any]]:
    """Check a config and a checkpoint, then evaluate it on the config's
    test split.

    Args:
        cfg: A config file, or a loaded config (left unchanged; a copy is
            used).
        checkpoint: The checkpoint to evaluate; its kind must fit the
            config's model (a detector for an mmdet config, ...).
        work_dir: Where logs and metrics go. Defaults to the config's
            ``work_dir``, else ``./work_dirs/CONFIG_NAME``.
        out: Also dump the metrics (and predictions) to this pickle.
        cfg_options: Dotted keys to override; a key no config reads is an
            error naming the nearest real one.
        launcher: ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``; the
            launcher's environment variables must be set.
        strict_data: Bad COCO boxes are an error instead of a warning.
        preflight_only: Run the checks and return None without testing.

    Returns:
        The test metrics, or None with ``preflight_only``.
    """
    options = dict(cfg_options or {})
    cfg = checked_config(cfg, options, launcher, work_dir, preflight_only)
    cfg.merge_from_dict(options)
    preflight(cfg, tool='test', checkpoint=checkpoint, strict=strict_data)
    if preflight_only:
        return None
    cfg.load_from = checkpoint
    if out:
        cfg.test_evaluator = [cfg.test_evaluator] if isinstance(
            cfg.test_evaluator, dict) else list(cfg.test_evaluator)
        cfg.test_evaluator.append(dict(type='DumpResults', out_file_path=out))
    return build_runner(cfg).test()


test.__test__ = False  # not a pytest test where a test module imports it
