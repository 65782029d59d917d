"""Unit tests of the municipal complaint-desk CSV export reader."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agencies.gemeente.complaint_desk import read_complaint_desk_csv
from intake import MalformedRecord, UnreadableFile
from intake.core import Intake
from intake.errors import InvalidRecord
from intake.registry import AdapterRegistry
from ketenbus.pseudonyms import Pseudonymiser

HEADER = (
    "gemeentecode;meldingnummer;datum_melding;postcode;huisnummer;huisletter;misstanden;anoniem"
)


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "meldingen.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def intake() -> Intake:
    return Intake(
        AdapterRegistry.load(["gemeente"]),
        Pseudonymiser(b"unit-test-key-of-at-least-32-bytes!!"),
        clock=lambda: datetime(2026, 6, 1, tzinfo=UTC),
    )


class TestComplaintDeskCsv:
    """Desk exports become complaint records; bad rows are reported by line."""

    def test_row_becomes_complaint(self, tmp_path: Path) -> None:
        path = write(
            tmp_path, HEADER, "0599;MP-9;02-05-2026 11:30;3083 ab;12;a;overbewoning|Intimidatie;ja"
        )
        [item] = list(read_complaint_desk_csv(path))
        expected = {
            "agency": "gemeente:0599",
            "type": "complaint",
            "ref": "MP-9",
            "occurred_at": "2026-05-02T11:30:00+02:00",
            "address": {
                "postcode": "3083 ab",
                "house_number": 12,
                "house_letter": "a",
                "municipality_code": "0599",
            },
            "violations": ["OVERCROWDING", "INTIMIDATION"],
            "anonymous": True,
        }
        assert (expected, 2) == (json.loads(item.payload), item.line)

    def test_validated_like_jsonl(self, tmp_path: Path, intake: Intake) -> None:
        path = write(tmp_path, HEADER, "0599;MP-9;02-05-2026 11:30;3083 ab;12;a;OVERCROWDING;nee")
        [item] = list(read_complaint_desk_csv(path))
        prepared = intake.prepare(item)
        assert ("3083AB-12-A", datetime(2026, 5, 2, 9, 30, tzinfo=UTC)) == (
            prepared.outgoing.key,
            prepared.record.occurred_at,
        )

    def test_comma_delimiter_and_iso_time(self, tmp_path: Path) -> None:
        path = write(
            tmp_path,
            "gemeentecode,meldingnummer,datum_melding,bag_id",
            "0363,A-1,2026-05-02T09:30:00Z,0363010000012345",
        )
        [item] = list(read_complaint_desk_csv(path))
        record = json.loads(item.payload)
        assert (
            "2026-05-02T09:30:00Z",
            {"bag_id": "0363010000012345", "municipality_code": "0363"},
        ) == (
            record["occurred_at"],
            record["address"],
        )

    def test_errors_name_columns(self, tmp_path: Path, intake: Intake) -> None:
        path = write(tmp_path, HEADER, "0599;MP-10;02-05-2026;3083 ab;x;;;misschien")
        [item] = list(read_complaint_desk_csv(path))
        with pytest.raises(InvalidRecord) as caught:
            intake.prepare(item)
        assert ["huisnummer", "anoniem"] == [e.field for e in caught.value.errors]

    def test_wrong_column_count_reported_with_line(self, tmp_path: Path) -> None:
        path = write(tmp_path, HEADER, "0599;MP-1;02-05-2026;3083AB;1;;;", "0599;MP-2")
        items = list(read_complaint_desk_csv(path))
        assert [(2, None), (3, MalformedRecord)] == [
            (i.line, type(i.error) if i.error else None) for i in items
        ]

    def test_quoted_newline_keeps_line_numbers(self, tmp_path: Path) -> None:
        path = write(
            tmp_path,
            HEADER,
            '0599;MP-1;02-05-2026;3083AB;1;;"OVERCROWDING|\nINTIMIDATION";',
            "0599;MP-2;02-05-2026;3083AB;2;;;",
        )
        assert [2, 4] == [i.line for i in read_complaint_desk_csv(path)]

    def test_unknown_column_rejects_file(self, tmp_path: Path) -> None:
        path = write(tmp_path, HEADER + ";naam_melder", "0599;MP-1;02-05-2026;3083AB;1;;;;Jan")
        with pytest.raises(UnreadableFile, match="line 1: unknown column\\(s\\) naam_melder"):
            list(read_complaint_desk_csv(path))

    def test_missing_required_column(self, tmp_path: Path) -> None:
        path = write(tmp_path, "gemeentecode;postcode", "0599;3083AB")
        with pytest.raises(
            UnreadableFile, match="missing column\\(s\\) meldingnummer, datum_melding"
        ):
            list(read_complaint_desk_csv(path))
