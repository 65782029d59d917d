"""Import files: JSONL (one intake record a line) and the native formats adapters declare.

Readers yield `IntakeItem`s with physical line numbers; a line that cannot become a
record is yielded with its error, so the import reports it and goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from intake.base import AgencyAdapter, FileReader, IntakeItem
from intake.errors import UnreadableFile

JSONL_SUFFIXES = (".jsonl", ".ndjson")


def read_jsonl(path: Path) -> Iterator[IntakeItem]:
    """One record per line; blank lines are skipped (not records, not errors)."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip(b"\r\n")
            if line.strip():
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
