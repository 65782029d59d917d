"""Bounds on what the intake parses (pure: no I/O). Every record is checked here before a
JSON parser that recurses or a model validator sees it, so hostile input costs bounded
time and memory and is refused with a reason instead of crashing the reader.

- nesting depth: an intake record nests 3 deep (record -> workers -> worker); 8 is refused
  before any recursive parser runs (a 100,000-deep `[[[...` used to crash `ketenbus publish`);
- list lengths and keys per object;
- numbers: finite, and integers within 64 bits (the models bound each field further to
  what its Avro type holds);
- `NaN` / `Infinity` literals are not JSON (RFC 8259) and are refused;
- duplicate keys are refused (two parsers may pick different ones).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

from intake.errors import MalformedRecord, RecordTooComplex
from intake.models import FieldError, safe_field_name

MAX_DEPTH: Final = 8
MAX_LIST_ITEMS: Final = 1_000
MAX_OBJECT_KEYS: Final = 64
MAX_STRING_CHARS: Final = 4_096
_INT_BOUND: Final = 1 << 63

_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def nesting_depth(payload: bytes, limit: int = MAX_DEPTH) -> int:
    """How deep the JSON in `payload` nests (brackets inside strings do not count); stops
    counting once past `limit`. Iterative: no recursion, whatever the input."""
    depth = deepest = 0
    for found in _BRACKETS.finditer(_STRINGS.sub(b'""', payload)):
        if found.group() in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        else:
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len(pairs) > MAX_OBJECT_KEYS:
        raise _Shape("(record)", f"an object has more than {MAX_OBJECT_KEYS} keys")
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Shape("(record)", "an object repeats a key")
    return result


class _Shape(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _walk(value: Any, path: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            name = safe_field_name(str(key))
            _walk(item, f"{path}.{name}" if path else name)
    elif isinstance(value, list):
        if len(value) > MAX_LIST_ITEMS:
            raise _Shape(path, f"a list has more than {MAX_LIST_ITEMS} items")
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]")
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not -_INT_BOUND <= value < _INT_BOUND:
            raise _Shape(path, "number out of range")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _Shape(path, "number out of range (not finite)")
    elif isinstance(value, str) and len(value) > MAX_STRING_CHARS:
        raise _Shape(path, f"a text is longer than {MAX_STRING_CHARS} characters")


def check_shape(payload: bytes) -> Any:
    """The parsed JSON of `payload` if its shape is within bounds; else `MalformedRecord`
    (not JSON) or `RecordTooComplex`. Messages name the rule, never a value."""
    if nesting_depth(payload) > MAX_DEPTH:
        raise RecordTooComplex(f"the JSON nests deeper than {MAX_DEPTH} levels")
    try:
        parsed = json.loads(
            payload, parse_constant=_refuse_constant, object_pairs_hook=_no_duplicates
        )
    except _Shape as exc:
        raise RecordTooComplex(exc.message) from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise MalformedRecord("not valid JSON (RFC 8259, UTF-8)") from None
    try:
        _walk(parsed, "")
    except _Shape as exc:
        field = exc.field or "(record)"
        raise RecordTooComplex(
            exc.message, errors=[FieldError(field, exc.message, field)]
        ) from None
    return parsed
