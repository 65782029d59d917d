"""A table row kept packed in memory writes the very changelog record faust would write."""

from __future__ import annotations

from correlation_builders import event
from faust.serializers import codecs

from correlator.domain import dwelling
from correlator.tables import recovered_row, row_state, stored_row
from correlator.topology import AggregateRow


def a_case() -> dwelling.DwellingCase:
    case = dwelling.DwellingCase(key="3083AB-12-A")
    for n, kind in enumerate(("complaint", "inspection", "sanction")):
        case = dwelling.apply(
            event(kind, "gemeente:0599", f"R{n}", n, violations=("OVERCROWDING",)), case
        )
    return case


class TestChangelogRecord:
    """A stored row's changelog record equals faust's json codec of the decoded row."""

    def test_record_equals_faust_codec(self) -> None:
        state = a_case().to_json()
        decoded: AggregateRow = {"partition": 3, "stall_due": 1234, "state": state}
        expected = codecs.dumps("json", decoded)
        _, actual = stored_row(3, 1234, state)
        assert expected == actual


class TestRowState:
    """A packed row and a row recovered from the changelog give the same aggregate."""

    def test_both_forms(self) -> None:
        case = a_case()
        packed, record = stored_row(1, None, case.to_json())
        recovered = codecs.loads("json", record)
        expected = [case, case]
        actual = [
            dwelling.DwellingCase.from_json(row_state(packed) or {}),
            dwelling.DwellingCase.from_json(row_state(recovered) or {}),
        ]
        assert expected == actual


class TestRecoveredRowPacked:
    """A row recovered from the changelog is kept packed, and reads as the same aggregate."""

    def test_packed_like_a_stored_row(self) -> None:
        case = a_case()
        packed, record = stored_row(2, 99, case.to_json())
        recovered = recovered_row(codecs.loads("json", record))
        assert packed == recovered

    def test_same_aggregate(self) -> None:
        case = a_case()
        _, record = stored_row(2, None, case.to_json())
        recovered = recovered_row(codecs.loads("json", record))
        assert case == dwelling.DwellingCase.from_json(row_state(recovered) or {})

    def test_other_values_unchanged(self) -> None:
        packed, _ = stored_row(0, None, a_case().to_json())
        values = [
            None,
            1_700_000_000_000,
            packed,
            {"partition": 1, "stall_due": None, "state": None},
        ]
        assert values == [recovered_row(value) for value in values]
