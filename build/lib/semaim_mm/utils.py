"""Small argument checks shared by the modules' constructors."""
from typing import Any, Iterable


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> None:
    """Raise ``ValueError`` naming ``name``, the allowed ``choices`` and the
    given ``value`` unless ``value`` is one of them."""
    choices = tuple(choices)
    if value not in choices:
        allowed = ', '.join(repr(c) for c in choices)
        raise ValueError(f'{name} must be one of {allowed}; got {value!r}')
