"""The Runner the tools build: mmengine's, with a readable log.

``tools/train.py`` and ``tools/test.py`` use it for every config (mmpretrain,
mmdet, mmseg) that names no ``runner_type`` of its own.
"""
import logging
import os.path as osp

from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .run_report import InputSizeCheckHook, QuietLogFilter, RunReportHook


@RUNNERS.register_module()
class SemAIMRunner(Runner):
    """``mmengine.runner.Runner`` plus :mod:`semaim_mm.engine.run_report`:
    one line per upstream INFO dump (all of it at ``log_level='DEBUG'``),
    progress at least every 10% of the run, and the image-size check."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register_hook(RunReportHook())
        self.register_hook(InputSizeCheckHook())

    def build_logger(self, log_level='INFO', log_file=None, **kwargs):
        logger = super().build_logger(log_level, log_file, **kwargs)
        level = logging.getLevelName(log_level) if isinstance(
            log_level, str) else log_level
        if not isinstance(level, int) or level > logging.DEBUG:
            name = osp.basename(self.cfg.filename or '') or 'in memory'
            logger.addFilter(QuietLogFilter(name))
        return logger


def build_runner(cfg) -> Runner:
    """The tools' launch path: the config's ``runner_type`` if it names one,
    else :class:`SemAIMRunner`; with a launcher, mmengine's distributed
    set-up is first made to work on CPUs (``compat.patch_mmengine_cpu_dist``).
    """
    if cfg.get('launcher', 'none') != 'none':
        from ..compat import patch_mmengine_cpu_dist
        patch_mmengine_cpu_dist()
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return SemAIMRunner.from_cfg(cfg)
