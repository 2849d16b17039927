"""The reproduction matrix: spec -> stages -> worker -> results -> report.

Importing the package registers :class:`StageRecorderHook` and the
:class:`RawPixels` reference backbone (stage configs import it through
``custom_imports``).
"""
from .hooks import StageRecorderHook
from .pixels import RawPixels
from .plan import build_plan, select
from .spec import Spec, SpecError, load_spec
from .stages import Plan, Stage
from .stats import Paired, Summary, paired_difference, summarize, t_quantile

__all__ = [
    'StageRecorderHook', 'RawPixels', 'Plan', 'Stage', 'build_plan',
    'select', 'Spec', 'SpecError', 'load_spec', 'Paired', 'Summary',
    'paired_difference', 'summarize', 't_quantile'
]
