"""Rule 8 as a property: any permutation and duplication of events gives the same cases.

Rule: docs/correlation.md#rule-8.
"""

from __future__ import annotations

from correlation_builders import event
from hypothesis import given, settings
from hypothesis import strategies as st

from correlator.domain.events import SourceEvent
from correlator.domain.handlers import simulate

DWELLINGS = ("3083AB-12-A", "3083AC-4", "3072XY-1-B", "BAG-0599010000000001")
BAG_OF_FIRST = "0599010000000001"  # some events give it with 3083AB-12-A: its alias
CODES = ("OVERCROWDING", "INTIMIDATION", "UNDERPAYMENT", "NO_WRITTEN_LEASE", "UNSAFE_DWELLING")
KVKS = ("11111111", "22222222")


@st.composite
def source_events(draw: st.DrawFn) -> list[SourceEvent]:
    found: list[SourceEvent] = []
    for n in range(draw(st.integers(1, 9))):
        kind = draw(
            st.sampled_from(["complaint", "inspection", "sanction", "case_action", "admission"])
        )
        agency = draw(st.sampled_from(["gemeente:0599", "nla", "politie", "nau"]))
        day = draw(st.integers(0, 90))
        kvk = draw(st.sampled_from((None, *KVKS)))
        if kind == "admission":
            found.append(
                event(
                    kind,
                    "nau",
                    f"R{n}",
                    day,
                    dwelling=None,
                    staffing=kvk or KVKS[1],
                    change=draw(st.sampled_from(["REVOKED", "GRANTED"])),
                )
            )
            continue
        dwelling = draw(st.sampled_from(DWELLINGS))
        with_bag = dwelling == DWELLINGS[0] and draw(st.booleans())
        found.append(
            event(
                kind,
                agency,
                f"R{n}",
                day,
                dwelling=dwelling,
                bag_id=BAG_OF_FIRST if with_bag else None,
                violations=tuple(draw(st.sets(st.sampled_from(CODES), max_size=3))),
                landlord=kvk if kind != "sanction" else None,
                target=kvk if kind == "sanction" else None,
                follow_up=draw(st.booleans()) if kind == "inspection" else False,
                action="ACKNOWLEDGED" if kind == "case_action" else None,
            )
        )
    return found


class TestOrderIndependence:
    """The final cases do not depend on arrival order or on duplicates (rule 8)."""

    @settings(max_examples=150, deadline=None)
    @given(data=st.data(), events=source_events())
    def test_permutation_and_duplication(
        self, data: st.DataObject, events: list[SourceEvent]
    ) -> None:
        shuffled = data.draw(st.permutations(events))
        duplicates = data.draw(st.lists(st.sampled_from(events), max_size=4))
        expected = simulate(events).views()
        actual = simulate([*shuffled, *duplicates]).views()
        assert expected == actual
