"""`ketenbus rebuild` (offline) leaves what a live replay leaves: the same cases, the
tables' rows on the same partitions, and a worker that goes on from there exactly as an
uninterrupted live run does.

Rules: docs/correlation.md#rules, docs/correlation.md#rebuild.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from convergence import RECORDS, final_notifications, told_state

from correlator.projection import read_topic
from devtools.sandbox import Backbone, public
from devtools.synthetic import synthetic_records

# one module fixture runs live -> rebuild -> live -> rebuild on two backbones (~4 min on a
# quiet box, twice that when the box is shared): more than the default 300 s per test
pytestmark = [pytest.mark.broker, pytest.mark.timeout(1200)]

Cases = dict[str, dict[str, Any]]

#: Published after the rebuild: the same world (addresses, landlords, agencies) months
#: later, so it joins existing cases, opens new ones and moves the clock (rule 6 stalls).
MORE = synthetic_records(150, seed=12, start=datetime(2025, 11, 1, tzinfo=UTC), prefix="MORE")
#: Patience for a worker to join and catch up: minutes when the shared box is loaded.
IDLE_S = 600
CHANGELOGS = ("ketenbus-cases-dwellings-changelog", "ketenbus-cases-organisations-changelog")


def shuffled(records: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    copy = records[:]
    random.Random(seed).shuffle(copy)
    return copy


def row_partitions(backbone: Backbone) -> dict[str, dict[str, int]]:
    """Every table key's changelog partition (the inbox partition it lives on)."""
    found: dict[str, dict[str, int]] = {}
    for topic in CHANGELOGS:
        rows = read_topic(topic, settings=backbone.client_settings)
        found[topic] = {json.loads(m.key()): m.partition() or 0 for m in rows}
    return found


def notification_ids(backbone: Backbone, cases: Cases) -> set[str]:
    agencies = {agency for case in cases.values() for agency in case["notified"]}
    return {n["notification_id"] for a in agencies for n in backbone.notifications(a)}


class Rebuilt:
    """Backbone A: live, then rebuilt offline, then live again with more events."""

    def __init__(self, backbone: Backbone) -> None:
        self.backbone = backbone
        backbone.publish(shuffled(RECORDS, 7)[:300])
        backbone.publish(shuffled(RECORDS, 7)[300:])
        backbone.wait_idle(timeout=IDLE_S)
        self.live = backbone.cases()
        self.live_partitions = row_partitions(backbone)
        self.notified_before = notification_ids(backbone, self.live)
        backbone.stop_correlator()
        self.output = backbone.cli("rebuild", "--yes", timeout=600).stdout
        self.rebuilt = backbone.cases()
        self.rebuilt_partitions = row_partitions(backbone)
        backbone.start_correlator()
        # records it already holds: the worker must have recovered its tables to see that
        # nothing changes (rule 8), and waiting for idle waits for it to handle them
        backbone.publish(RECORDS[:40])
        backbone.wait_idle(timeout=IDLE_S)
        self.restarted = backbone.cases()
        self.notified_restarted = notification_ids(backbone, self.restarted)
        backbone.publish(MORE)
        backbone.wait_idle(timeout=IDLE_S)
        self.continued = backbone.cases()
        agencies = sorted({a for case in self.continued.values() for a in case["notified"]})
        self.issued_notes = [n for a in agencies for n in backbone.notifications(a)]
        backbone.stop_correlator()
        backbone.cli("rebuild", "--yes", "--notifications", timeout=600)
        self.renotified = [n for a in agencies for n in backbone.notifications(a)]


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rebuilt]:
    backbone = Backbone(Path(tmp_path_factory.mktemp("rebuilt"))).start()
    try:
        yield Rebuilt(backbone)
    finally:
        backbone.stop()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cases]:
    """Backbone B: the same records and then the same later ones, live throughout."""
    backbone = Backbone(Path(tmp_path_factory.mktemp("uninterrupted"))).start()
    try:
        backbone.publish(RECORDS)
        backbone.wait_idle(timeout=IDLE_S)
        backbone.publish(MORE)
        backbone.wait_idle(timeout=IDLE_S)
        yield backbone.cases()
    finally:
        backbone.stop()


class TestOfflineRebuild:
    """The offline rebuild gives the live cases and says how fast it replayed."""

    def test_rebuilt_equals_live(self, rebuilt: Rebuilt) -> None:
        live = {key: public(case) for key, case in rebuilt.live.items()}
        assert (True, live) == (
            len(live) > 100,
            {key: public(case) for key, case in rebuilt.rebuilt.items()},
        )

    def test_same_case_event_ids(self, rebuilt: Rebuilt) -> None:
        """A case's final state has the id live operation gave it (rule 9)."""
        assert {k: c["case_event_id"] for k, c in rebuilt.live.items()} == {
            k: c["case_event_id"] for k, c in rebuilt.rebuilt.items()
        }

    def test_table_rows_on_the_live_partitions(self, rebuilt: Rebuilt) -> None:
        assert rebuilt.live_partitions == rebuilt.rebuilt_partitions

    def test_reports_the_replay(self, rebuilt: Rebuilt) -> None:
        match = re.search(
            r"replayed (\d+) source events in [\d.]+ s = [\d,]+ events/s", rebuilt.output
        )
        assert (True, len(RECORDS)) == (match is not None, int(match.group(1)) if match else 0)


class TestWorkerAfterRebuild:
    """A worker started on the rebuilt state recovers it and goes on as a live run."""

    def test_recovers_without_changing_anything(self, rebuilt: Rebuilt) -> None:
        """Records it already holds change nothing and notify nobody again: its tables
        hold the final state."""
        assert (rebuilt.rebuilt, rebuilt.notified_before) == (
            rebuilt.restarted,
            rebuilt.notified_restarted,
        )

    def test_continues_like_an_uninterrupted_run(
        self, rebuilt: Rebuilt, uninterrupted: Cases
    ) -> None:
        expected = {key: public(case) for key, case in uninterrupted.items()}
        actual = {key: public(case) for key, case in rebuilt.continued.items()}
        assert (True, expected) == (
            expected != {k: public(c) for k, c in rebuilt.live.items()},
            actual,
        )

    def test_every_party_holds_each_final_state(self, rebuilt: Rebuilt) -> None:
        cases = rebuilt.continued
        expected = {
            (agency, told_state(case)) for case in cases.values() for agency in case["notified"]
        }
        assert expected == final_notifications(rebuilt.backbone, cases)


class TestRebuildWithNotifications:
    """`--notifications`: each party of each case is told its final state once, under the
    id live operation gave that notification."""

    def test_each_party_told_the_final_state_once(self, rebuilt: Rebuilt) -> None:
        cases = rebuilt.continued
        expected = sorted(
            (agency, told_state(case)) for case in cases.values() for agency in case["notified"]
        )
        assert expected == sorted((n["recipient"], told_state(n)) for n in rebuilt.renotified)

    def test_ids_are_the_live_ones(self, rebuilt: Rebuilt) -> None:
        """Where live operation notified a state, the rebuilt notification of that state
        has the id the party already holds (a state live never notified, e.g. a last
        change that refined only the explanation, gets its id for the first time)."""
        states = {n["case_event_id"] for n in rebuilt.issued_notes}
        ids = {n["notification_id"] for n in rebuilt.issued_notes}
        again = [n for n in rebuilt.renotified if n["case_event_id"] in states]
        assert (True, set()) == (len(again) > 50, {n["notification_id"] for n in again} - ids)
