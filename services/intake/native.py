"""Native record files: an agency's own JSON format, mapped to intake records on the way in.

An adapter whose agency system cannot emit the canonical intake record declares a pure
mapping `map_native(native: dict) -> intake dict` and serves files named
`*.<agency>.jsonl` (one native JSON object a line) with `native_jsonl_reader(map_native)`.
The mapped record then takes the same validation path as every JSONL record; a line the
mapping cannot read is reported with its line number and dead-lettered like any other.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from intake.base import FileReader, IntakeItem
from intake.errors import MalformedRecord, RecordRejected
from intake.files import bounded_lines, max_record_bytes, too_large_item
from intake.limits import check_shape
from intake.models import safe_field_name
from intake.redact import scrub_text

NativeMapping = Callable[[Mapping[str, Any]], dict[str, Any]]


class NativeRecordUnreadable(ValueError):
    """A native record lacks a field the mapping needs, or holds an unknown value.

    Raised by `map_native` functions; the reader turns it into a rejected line.
    """


def native_suffix(agency: str) -> str:
    """The file suffix of an agency's native records: `.belastingdienst.jsonl`."""
    return f".{agency}.jsonl"


def map_line(line: bytes, mapping: NativeMapping) -> dict[str, Any]:
    """One native JSON line as an intake record; `MalformedRecord` when it cannot be."""
    try:
        native = check_shape(line)
    except RecordRejected:
        raise MalformedRecord("not a JSON object within the intake's bounds") from None
    if not isinstance(native, dict):
        raise MalformedRecord("not a JSON object")
    try:
        return mapping(native)
    except NativeRecordUnreadable as exc:
        # field names are safe to repeat; any other word of the message is not
        words = [safe_field_name(w) if w.isidentifier() else w for w in str(exc).split()]
        raise MalformedRecord(f"native record: {scrub_text(' '.join(words))}") from None
    except KeyError as exc:
        raise MalformedRecord(
            f"native record: missing field {safe_field_name(str(exc.args[0]))}"
        ) from None
    except (ValueError, TypeError, AttributeError):
        raise MalformedRecord("native record: a field has an unexpected form") from None


def native_jsonl_reader(
    mapping: NativeMapping, field_names: Mapping[str, str] | None = None
) -> FileReader:
    """A file reader for native JSONL: each line mapped, then validated like any record.

    `field_names` (intake field -> native field) makes validation messages name the field
    the agency knows.
    """

    def read(path: Path) -> Iterator[IntakeItem]:
        limit = max_record_bytes()
        with path.open("rb") as handle:
            for number, line in bounded_lines(handle, limit):
                if line is None:
                    yield too_large_item(number, limit)
                    continue
                if not line.strip():
                    continue
                try:
                    record = map_line(line, mapping)
                except MalformedRecord as exc:
                    yield IntakeItem(payload=b"", original=line, line=number, error=exc)
                    continue
                yield IntakeItem(
                    payload=json.dumps(record).encode(),
                    original=line,
                    line=number,
                    field_names=field_names,
                )

    return read
