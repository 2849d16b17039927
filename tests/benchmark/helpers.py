"""Tiny SemAIM models for the benchmark tests: the model tests' helpers
with a 2-block decoder by default (pytest puts tests/ on sys.path, so
tests/models is the package `models`)."""
from models.helpers import images  # noqa: F401
from models.helpers import tiny_semaim as _tiny_semaim


def tiny_semaim(decoder_depth: int = 2, **kwargs):
    return _tiny_semaim(decoder_depth=decoder_depth, **kwargs)
