"""The offline rebuild's fold gives the cases `simulate` (one message at a time) gives.

Rules: docs/correlation.md#rule-8, docs/correlation.md#rebuild.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from correlation_builders import event
from hypothesis import given, settings
from hypothesis import strategies as st
from test_correlation_properties import source_events

from correlator.domain.case import stall_due_at
from correlator.domain.events import EventLink, SourceEvent
from correlator.domain.handlers import simulate
from correlator.replay import final_rows, fold
from correlator.tables import changelog_record, partition_of
from devtools.synthetic import synthetic_records
from intake.events import to_event
from intake.models import parse_record
from ketenbus.pseudonyms import Pseudonymiser

CARNISSE = Path(__file__).parents[2] / "services" / "devtools" / "scenarios" / "carnisse.jsonl"


def source_event(record: dict[str, object]) -> SourceEvent:
    """An intake record as the correlator reads it from its source topic."""
    parsed = parse_record(json.dumps(record).encode())
    kind, avro = to_event(
        parsed, recorded_at=datetime.now(UTC), pseudonymiser=Pseudonymiser(b"k" * 32)
    )
    return SourceEvent.from_avro(kind.schema, avro)


def mixed_events() -> list[SourceEvent]:
    """The Carnisse scenario and 600 synthetic events, shuffled, some twice."""
    records = [json.loads(line) for line in CARNISSE.read_text().splitlines() if line.strip()]
    events = [source_event(r) for r in records + synthetic_records(600, seed=11)]
    rng = random.Random(5)
    events += rng.sample(events, 40)
    rng.shuffle(events)
    return events


def final_clock(events: list[SourceEvent]) -> int:
    return max(e.occurred_at for e in events)


class TestSameAsSimulate:
    """Folding all events at once ends where handling them one by one ends (rule 8)."""

    @settings(max_examples=150, deadline=None)
    @given(data=st.data(), events=source_events())
    def test_any_events(self, data: st.DataObject, events: list[SourceEvent]) -> None:
        shuffled = data.draw(st.permutations(events))
        assert simulate(events).views() == fold(shuffled, final_clock(events)).views()

    def test_scenario_and_synthetic_mix(self) -> None:
        events = mixed_events()
        expected = simulate(sorted(events, key=lambda e: e.occurred_at)).views()
        actual = fold(events, final_clock(events)).views()
        assert (True, expected) == (len(expected) > 100, actual)


class TestFinalRows:
    """Each row carries the state, stall time and case a live worker would store."""

    def test_rows_match_simulate(self) -> None:
        events = mixed_events()
        simulation = simulate(sorted(events, key=lambda e: e.occurred_at))
        views = simulation.views()
        rows = list(final_rows(fold(events, final_clock(events))))
        cases = {row.change.view.case_id: row.change.view for row in rows if row.change}
        stalls = {(row.inbox, row.key): row.stall_due for row in rows if row.stall_due is not None}
        expected_stalls = {
            key: due
            for key, due in simulation.stall_due.items()
            if due is not None and stall_due_at(views.get(_case_id(*key))) == due
        }
        assert (views, expected_stalls) == (cases, stalls)

    def test_a_case_is_new_in_its_change(self) -> None:
        rows = [r for r in final_rows(fold(mixed_events(), 0)) if r.change is not None]
        assert {None} == {row.change.previous_status for row in rows if row.change}

    def test_merged_bag_case_is_removed(self) -> None:
        bag = "0599010000000001"
        events = [
            event(
                "complaint", "politie", "B1", 1, dwelling=f"BAG-{bag}", violations=("OVERCROWDING",)
            ),
            event(
                "inspection", "gemeente:0599", "A1", 2, bag_id=bag, violations=("UNSAFE_DWELLING",)
            ),
        ]
        rows = {row.key: row for row in final_rows(fold(events, final_clock(events)))}
        merged, address = rows[f"BAG-{bag}"], rows["3083AB-12-A"]
        assert (f"dwelling:BAG-{bag}", None, ("gemeente:0599/A1", "politie/B1")) == (
            merged.removed,
            merged.change,
            address.change.view.events if address.change else (),
        )


def _case_id(inbox: str, key: str) -> str:
    return f"{inbox}:{key}"


class TestTables:
    """Keys land on the partitions the Java/librdkafka partitioner picks, in faust's json."""

    def test_partition_of_kafkas_murmur2_vectors(self) -> None:
        # Kafka's own murmur2 test vectors (clients UtilsTest), as signed Java ints
        java = {"21": -973932308, "foobar": -790332482, "a-little-bit-long-string": -985981536}
        expected = [(h & 0x7FFFFFFF) % 12 for h in java.values()]
        assert expected == [partition_of(key, 12) for key in java]

    def test_changelog_record(self) -> None:
        assert (b'"dwelling:3"', b'{"partition":3,"stall_due":null}') == changelog_record(
            "dwelling:3", {"partition": 3, "stall_due": None}
        )


class TestEventLinkJson:
    """An EventLink's JSON form is its dataclass fields (what `asdict` gave before)."""

    def test_same_as_asdict(self) -> None:
        link = EventLink("e1", "nau", "R1", 1_700_000_000_000, "11111111")
        assert asdict(link) == link.to_json()
