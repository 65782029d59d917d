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
from intake.errors import MalformedRecord

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
        native = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise MalformedRecord("not a JSON object") from None
    if not isinstance(native, dict):
        raise MalformedRecord("not a JSON object")
    try:
        return mapping(native)
    except NativeRecordUnreadable as exc:
        raise MalformedRecord(f"native record: {exc}") from None
    except KeyError as exc:
        raise MalformedRecord(f"native record: missing field {exc.args[0]!r}") from None


def native_jsonl_reader(
    mapping: NativeMapping, field_names: Mapping[str, str] | None = None
) -> FileReader:
    """A file reader for native JSONL: each line mapped, then validated like any record.

    `field_names` (intake field -> native field) makes validation messages name the field
    the agency knows.
    """

    def read(path: Path) -> Iterator[IntakeItem]:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                line = raw.rstrip(b"\r\n")
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
