"""Bounds on what the intake parses (pure: no I/O). Every record is checked here before a
JSON parser that recurses or a model validator sees it, so hostile input costs bounded
time and memory and is refused with a reason instead of crashing the reader.

- nesting depth: an intake record nests 3 deep (record -> workers -> worker); 8 is refused
  before any recursive parser runs (a 100,000-deep `[[[...` used to crash `ketenbus publish`);
- list lengths, text lengths and keys per object (lists and texts that are values of an
  object; anything nested deeper is bounded by the record size and depth);
- numbers: finite, and integers of at most 18 digits (the models bound each field further
  to what its Avro type holds);
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
_MAX_INT_DIGITS: Final = 18  # within 64 bits

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


class _Shape(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Every JSON object, as the parser builds it: keys counted and unique, list values
    bounded (the parser's hooks do the checks in one pass, no second walk)."""
    if len(pairs) > MAX_OBJECT_KEYS:
        raise _Shape("(record)", f"an object has more than {MAX_OBJECT_KEYS} keys")
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Shape("(record)", "an object repeats a key")
    for key, value in pairs:
        if isinstance(value, list) and len(value) > MAX_LIST_ITEMS:
            raise _Shape(safe_field_name(key), f"a list has more than {MAX_LIST_ITEMS} items")
        if isinstance(value, str) and len(value) > MAX_STRING_CHARS:
            raise _Shape(
                safe_field_name(key), f"a text is longer than {MAX_STRING_CHARS} characters"
            )
    return result


def _int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise _Shape("(record)", "number out of range")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Shape("(record)", "number out of range (not finite)")
    return value


def check_shape(payload: bytes) -> Any:
    """The parsed JSON of `payload` if its shape is within bounds; else `MalformedRecord`
    (not JSON) or `RecordTooComplex`. Messages name the rule, never a value."""
    if nesting_depth(payload) > MAX_DEPTH:
        raise RecordTooComplex(f"the JSON nests deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(
            payload,
            parse_constant=_refuse_constant,
            parse_int=_int,
            parse_float=_float,
            object_pairs_hook=_object,
        )
    except _Shape as exc:
        error = FieldError(exc.field, exc.message, exc.field)
        raise RecordTooComplex(exc.message, errors=[error]) from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise MalformedRecord("not valid JSON (RFC 8259, UTF-8)") from None
