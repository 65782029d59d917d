"""Import files: JSONL (one intake record a line) and the native formats adapters declare.

Readers yield `IntakeItem`s with physical line numbers; a line that cannot become a
record is yielded with its error, so the import reports it and goes on. Lines are read
with a bound (`bounded_lines`): a line longer than a record may be is skipped to its end
without being held in memory and reported as too large.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from intake.base import AgencyAdapter, FileReader, IntakeItem
from intake.errors import RecordTooLarge, UnreadableFile
from ketenbus.settings import get_settings

JSONL_SUFFIXES = (".jsonl", ".ndjson")
_SKIP_CHUNK = 1 << 16


def max_record_bytes() -> int:
    return get_settings().intake_max_record_bytes


def bounded_lines(handle: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line without its end) for every line; None for a line over `limit`
    bytes (the rest of it is skipped, never held in memory)."""
    number = 0
    while raw := handle.readline(limit + 1):
        number += 1
        if len(raw) > limit and not raw.endswith(b"\n"):
            while rest := handle.readline(_SKIP_CHUNK):
                if rest.endswith(b"\n"):
                    break
            yield number, None
            continue
        yield number, raw.rstrip(b"\r\n")


def too_large_item(number: int, limit: int) -> IntakeItem:
    error = RecordTooLarge(f"a line may hold at most {limit} bytes")
    return IntakeItem(payload=b"", original=b"", line=number, error=error, too_large=True)


def read_jsonl(path: Path) -> Iterator[IntakeItem]:
    """One record per line; blank lines are skipped (not records, not errors)."""
    limit = max_record_bytes()
    with path.open("rb") as handle:
        for number, line in bounded_lines(handle, limit):
            if line is None:
                yield too_large_item(number, limit)
            elif line.strip():
                yield IntakeItem(payload=line, original=line, line=number)


def reader_for(path: Path, adapters: Iterable[AgencyAdapter]) -> FileReader:
    """The reader for a file, by name ending: a format one of the adapters declares (the
    longest matching ending wins, so `x.belastingdienst.jsonl` is native), else JSONL."""
    name = path.name.lower()
    declared = [(end, reader) for a in adapters for end, reader in a.file_readers.items()]
    matching = [(end, reader) for end, reader in declared if name.endswith(end.lower())]
    if matching:
        return max(matching, key=lambda pair: len(pair[0]))[1]
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return read_jsonl
    known = [*JSONL_SUFFIXES, *(end for end, _ in declared)]
    raise UnreadableFile(f"{path}: unknown file type {suffix!r} (known: {', '.join(known)})")
