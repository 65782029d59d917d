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

`check_shape` first tries a fast path: orjson parses (C, iterative bounds of its own: a
depth limit, no NaN, strict UTF-8) and one walk over the result checks the bounds; the
keys it finds are counted against the key separators in the text, so a repeated key is
noticed. Whatever the fast path does not accept outright (any error, a bound passed, a
long digit run, a repeated key) goes through the exact parser below, which gives the
same answer and reason as it always did: the fast path only ever accepts what the exact
one accepts, with the same parsed value.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

import orjson

from intake.errors import MalformedRecord, RecordTooComplex
from intake.models import FieldError, safe_field_name

MAX_DEPTH: Final = 8
MAX_LIST_ITEMS: Final = 1_000
MAX_OBJECT_KEYS: Final = 64
MAX_STRING_CHARS: Final = 4_096
_MAX_INT_DIGITS: Final = 18  # within 64 bits

_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
#: JSON strings, unrolled (linear on valid JSON, where every quote a match starts at
#: opens a string); used only after orjson accepted the text.
_VALID_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
#: A digit run as long as an integer the exact parser refuses (it may be a float's: then
#: the exact parser decides).
_LONG_DIGITS = re.compile(rb"[0-9]{%d,}" % (_MAX_INT_DIGITS + 1))
_INT_BOUND: Final = 10**_MAX_INT_DIGITS


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


def _keys_within(value: Any, depth: int) -> int:
    """How many object keys `value` holds, or -1 as soon as a bound is passed (the same
    bounds as the exact parser's hooks: depth, keys per object, items of a list and
    characters of a text that are an object's values, integer digits)."""
    if depth > MAX_DEPTH:
        return -1
    if type(value) is dict:
        if len(value) > MAX_OBJECT_KEYS:
            return -1
        keys = len(value)
        for item in value.values():
            kind = type(item)
            if kind is str:
                if len(item) > MAX_STRING_CHARS:
                    return -1
            elif kind is int:
                if not -_INT_BOUND < item < _INT_BOUND:
                    return -1
            elif kind is list or kind is dict:
                if kind is list and len(item) > MAX_LIST_ITEMS:
                    return -1
                inner = _keys_within(item, depth + 1)
                if inner < 0:
                    return -1
                keys += inner
        return keys
    if type(value) is list:
        keys = 0
        for item in value:
            kind = type(item)
            if kind is int:
                if not -_INT_BOUND < item < _INT_BOUND:
                    return -1
            elif kind is list or kind is dict:
                inner = _keys_within(item, depth + 1)
                if inner < 0:
                    return -1
                keys += inner
        return keys
    return 0


def _fast_shape(payload: bytes) -> tuple[bool, Any]:
    """(True, parsed) when `payload` is JSON within every bound; (False, None) when the
    exact parser has to decide."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False, None
    if type(data) is not dict and type(data) is not list:
        return False, None  # a bare scalar: rare, let the exact parser judge it
    outside_strings = _VALID_STRINGS.sub(b"", payload)
    if _LONG_DIGITS.search(outside_strings):
        return False, None
    keys = _keys_within(data, 1)
    # in valid JSON every colon outside a string separates a key from its value: fewer
    # keys parsed than written means a key was repeated (orjson keeps the last)
    if keys < 0 or keys != outside_strings.count(b":"):
        return False, None
    return True, data


def check_shape(payload: bytes) -> Any:
    """The parsed JSON of `payload` if its shape is within bounds; else `MalformedRecord`
    (not JSON) or `RecordTooComplex`. Messages name the rule, never a value."""
    accepted, data = _fast_shape(payload)
    if accepted:
        return data
    return _check_shape_exact(payload)


def _check_shape_exact(payload: bytes) -> Any:
    """`check_shape` by the standard library's parser, every bound checked in its hooks
    (and the nesting before it runs)."""
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
