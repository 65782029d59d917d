"""The municipal complaint-desk (meldpunt) CSV export -> complaint intake records.

Columns (header row required, Dutch names, any order; `,` or `;` as delimiter, UTF-8):

| column | meaning | required |
|---|---|---|
| gemeentecode | CBS code of the municipality (`0599`) | yes |
| meldingnummer | the desk's own reference (becomes `ref`) | yes |
| datum_melding | ISO 8601 with zone, or `dd-mm-jjjj uu:mm` (Europe/Amsterdam time) | yes |
| postcode, huisnummer, huisletter, toevoeging, bag_id | the dwelling | no |
| kvk_verhuurder, kvk_uitzendbureau, kvk_werkgever | landlord / staffing agency / employer | no |
| misstanden | violation codes or their Dutch names, separated by `|` | no |
| anoniem | ja/nee (also true/false, 1/0) | no |

Each row becomes a JSON intake record (docs/integration.md#intake-format) and takes the
same validation path as JSONL; errors name the CSV column. An unknown or missing column
rejects the file.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from intake import IntakeItem, MalformedRecord, UnreadableFile
from intake.files import bounded_lines, max_record_bytes, too_large_item

LOCAL_TIME = ZoneInfo("Europe/Amsterdam")
_DUTCH_DATE = re.compile(
    r"^(?P<d>\d{1,2})-(?P<m>\d{1,2})-(?P<y>\d{4})"
    r"(?:[ T](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?$"
)
REQUIRED = ("gemeentecode", "meldingnummer", "datum_melding")
OPTIONAL = (
    "postcode",
    "huisnummer",
    "huisletter",
    "toevoeging",
    "bag_id",
    "kvk_verhuurder",
    "kvk_uitzendbureau",
    "kvk_werkgever",
    "misstanden",
    "anoniem",
)
COLUMNS = REQUIRED + OPTIONAL
_ADDRESS = {
    "postcode": "postcode",
    "huisnummer": "house_number",
    "huisletter": "house_letter",
    "toevoeging": "addition",
    "bag_id": "bag_id",
}
_KVK = {
    "kvk_verhuurder": "landlord_kvk",
    "kvk_uitzendbureau": "staffing_agency_kvk",
    "kvk_werkgever": "employer_kvk",
}
#: Dutch names of the violation codes (docs/correlation.md#violation-codes), lower case.
DUTCH_VIOLATIONS = {
    "overbewoning": "OVERCROWDING",
    "kamerverhuur zonder vergunning": "UNLICENSED_ROOM_LETTING",
    "gevaarlijke situatie": "UNSAFE_DWELLING",
    "brandveiligheid": "UNSAFE_DWELLING",
    "intimidatie": "INTIMIDATION",
    "intimidatie door verhuurder": "INTIMIDATION",
    "geen schriftelijke huurovereenkomst": "NO_WRITTEN_LEASE",
    "huur niet los van arbeidsovereenkomst": "HOUSING_TIED_TO_JOB",
    "huur boven maximum": "EXCESSIVE_RENT",
    "bewoners niet in brp": "BRP_NOT_REGISTERED",
    "inschrijving brp belemmerd": "BRP_REGISTRATION_OBSTRUCTED",
    "onderbetaling": "UNDERPAYMENT",
    "onterechte inhoudingen": "UNDERPAYMENT",
    "tewerkstelling zonder vergunning": "ILLEGAL_EMPLOYMENT",
    "ernstige benadeling": "SERIOUS_DISADVANTAGE",
    "arbeidsuitbuiting": "LABOUR_EXPLOITATION",
    "mensenhandel": "HUMAN_TRAFFICKING",
    "uitlenen zonder toelating": "UNADMITTED_LENDING",
}
_YES = {
    "ja": True,
    "j": True,
    "true": True,
    "1": True,
    "nee": False,
    "n": False,
    "false": False,
    "0": False,
}
#: intake field -> CSV column, so messages name what the desk sees
FIELD_TO_COLUMN = {
    "agency": "gemeentecode",
    "ref": "meldingnummer",
    "occurred_at": "datum_melding",
    "violations": "misstanden",
    "anonymous": "anoniem",
    **{f"address.{v}": k for k, v in _ADDRESS.items()},
    "address.municipality_code": "gemeentecode",
    **{v: k for k, v in _KVK.items()},
}


class _LineTooLarge(Exception):
    """A line of the file is longer than a record may be (its row cannot be read)."""


class _LineTap:
    """Feeds bounded, decoded lines to csv.reader and remembers them, so a row's original
    text is known, and whether one of its lines was too long or not UTF-8."""

    def __init__(self, lines: Iterator[tuple[int, bytes | None]]) -> None:
        self._lines = lines
        self.taken: list[str] = []
        self.too_large = False
        self.not_utf8 = False

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        _, raw = next(self._lines)
        if raw is None:
            self.too_large = True
            self.taken.append("\n")
            raise _LineTooLarge
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.not_utf8 = True
                text = raw.decode("utf-8", errors="replace")
        line = text + "\n"
        self.taken.append(line)
        return line

    def take(self) -> tuple[str, bool, bool]:
        """The row's original text, and whether it was too large / not UTF-8."""
        taken = ("".join(self.taken), self.too_large, self.not_utf8)
        self.taken, self.too_large, self.not_utf8 = [], False, False
        return taken


def occurred_at(value: str) -> str:
    """ISO 8601 passes through (validation wants a zone); `dd-mm-jjjj uu:mm` is Dutch time."""
    found = _DUTCH_DATE.match(value)
    if not found:
        return value
    parts = {k: int(v) if v else 0 for k, v in found.groupdict().items()}
    local = datetime(parts["y"], parts["m"], parts["d"], parts["H"], parts["M"], parts["S"])
    return local.replace(tzinfo=LOCAL_TIME).isoformat()


def _violations(cell: str) -> list[str]:
    codes = []
    for item in cell.split("|"):
        label = " ".join(item.split())
        if label:
            codes.append(DUTCH_VIOLATIONS.get(label.lower(), label.upper().replace(" ", "_")))
    return codes


def row_to_record(row: dict[str, str]) -> dict[str, Any]:
    """One CSV row as a complaint intake record (values left for validation to judge)."""
    cell = {k: (v or "").strip() for k, v in row.items()}
    record: dict[str, Any] = {
        "agency": f"gemeente:{cell['gemeentecode']}",
        "type": "complaint",
        "ref": cell["meldingnummer"],
        "occurred_at": occurred_at(cell["datum_melding"]),
    }
    address: dict[str, Any] = {}
    for column, field in _ADDRESS.items():
        if cell.get(column):
            value: Any = cell[column]
            if field == "house_number" and value.isascii() and value.isdigit() and len(value) < 10:
                value = int(value)
            address[field] = value
    if address:
        address["municipality_code"] = cell["gemeentecode"]
        record["address"] = address
    for column, field in _KVK.items():
        if cell.get(column):
            record[field] = cell[column]
    if cell.get("misstanden"):
        record["violations"] = _violations(cell["misstanden"])
    if cell.get("anoniem"):
        answer = _YES.get(cell["anoniem"].lower())
        record["anonymous"] = answer if answer is not None else cell["anoniem"]
    return record


def _check_header(header: list[str], path: Path) -> list[str]:
    names = [h.strip().lower() for h in header]
    unknown = [h for h in names if h not in COLUMNS]
    missing = [c for c in REQUIRED if c not in names]
    if unknown or missing:
        problems = []
        if unknown:
            problems.append(f"unknown column(s) {', '.join(unknown)}")
        if missing:
            problems.append(f"missing column(s) {', '.join(missing)}")
        raise UnreadableFile(
            f"{path}: line 1: {'; '.join(problems)} (columns: {', '.join(COLUMNS)})"
        )
    return names


def read_complaint_desk_csv(path: Path) -> Iterator[IntakeItem]:
    """Intake items of a complaint-desk export; line numbers are the file's own. A row
    that cannot be read (too long, not UTF-8, broken quoting) is a rejected line."""
    limit = max_record_bytes()
    with path.open("rb") as handle:
        lines = bounded_lines(handle, limit)
        first = next(lines, (1, b""))[1]
        try:
            header_text = (first or b"").decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UnreadableFile(f"{path}: line 1: the header is not UTF-8") from None
        if not header_text.strip():
            raise UnreadableFile(f"{path}: line 1: no header row")
        delimiter = ";" if header_text.count(";") > header_text.count(",") else ","
        header = _check_header(next(csv.reader([header_text], delimiter=delimiter)), path)
        tap = _LineTap(lines)
        reader = csv.reader(tap, delimiter=delimiter)
        line = 2
        while True:
            error: MalformedRecord | None = None
            try:
                cells = next(reader)
            except StopIteration:
                return
            except _LineTooLarge:
                # the row is lost; a fresh reader forgets any quote the row left open
                reader = csv.reader(tap, delimiter=delimiter)
                cells = []
            except csv.Error:
                cells = []
                error = MalformedRecord("the row cannot be read as CSV (quoting or field size)")
            original, too_large, not_utf8 = tap.take()
            start = line
            line += max(original.count("\n"), 1)
            if too_large:
                yield too_large_item(start, limit)
                continue
            if not_utf8:
                error = MalformedRecord("the row is not valid UTF-8")
            elif error is None and not any(c.strip() for c in cells):
                continue
            elif error is None and len(cells) != len(header):
                error = MalformedRecord(f"expected {len(header)} columns, found {len(cells)}")
            kept = original.rstrip("\r\n").encode("utf-8", errors="replace")
            if error is not None:
                yield IntakeItem(b"", kept, start, error=error)
                continue
            record = row_to_record(dict(zip(header, cells, strict=True)))
            yield IntakeItem(
                payload=json.dumps(record).encode(),
                original=kept,
                line=start,
                field_names=FIELD_TO_COLUMN,
            )
