"""Python entry points of the command-line tools: :func:`train`
(``tools/train.py``) and :func:`test` (``tools/test.py``), with the same
checks before anything is built."""
from .testing import test
from .training import train

__all__ = ['train', 'test']
