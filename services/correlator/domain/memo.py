"""Memoising pure functions of immutable domain values on the value itself.

Aggregates, events and views are frozen dataclasses that never change once built, so a
pure function of one (a view, a summary, an organisation's facts) can be kept on the
instance the first time it is computed: the handlers ask for the view of the state
before a message, which is the very instance whose view the previous message computed
as "after". The memo lives in the instance's `__dict__`, not in a field: equality,
`replace` and the JSON form ignore it, and a new state starts with none.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

_MISSING: Any = object()


def memo(owner: object, name: str, compute: Callable[[], T]) -> T:
    """`compute()` the first time `name` is asked of `owner`, the kept value after that."""
    kept = owner.__dict__.get(name, _MISSING)
    if kept is _MISSING:
        kept = compute()
        owner.__dict__[name] = kept
    return kept  # type: ignore[no-any-return]


def memo_at(owner: object, name: str, arg: Hashable, compute: Callable[[], T]) -> T:
    """As `memo`, for a function of `owner` and one more argument (the last one asked)."""
    kept = owner.__dict__.get(name)
    if kept is not None and kept[0] == arg:
        return kept[1]  # type: ignore[no-any-return]
    value = compute()
    owner.__dict__[name] = (arg, value)
    return value
