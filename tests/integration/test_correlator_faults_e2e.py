"""The correlator under faults: arrival order and a SIGKILL mid-stream do not change the
final cases (rule 8), and no party misses the notification of a case's final state.

Rule: docs/correlation.md#rule-8.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rule_scenario import SCENARIO

from devtools.sandbox import Backbone, public
from devtools.synthetic import synthetic_records

pytestmark = pytest.mark.broker

RECORDS = SCENARIO + synthetic_records(400, seed=11)
Cases = dict[str, dict[str, Any]]


def run(
    home: Path, batches: list[list[dict[str, Any]]], *, stop_after_first: int | None = None
) -> tuple[Backbone, Cases]:
    """Publish `batches`; with `stop_after_first`, stop the worker with that signal while
    it is busy with the first batch, and start it again."""
    backbone = Backbone(home).start()
    for number, batch in enumerate(batches):
        backbone.publish(batch)
        if stop_after_first is not None and number == 0:
            time.sleep(1.5)  # mid-stream: the correlator is busy with the first batch
            backbone.stop_correlator(stop_after_first)
            backbone.start_correlator()
    backbone.wait_idle()
    return backbone, backbone.cases()


def told_state(item: dict[str, Any]) -> tuple[Any, ...]:
    """What a party must know of a case: its status, codes, agencies and events."""
    return (
        item["case_id"],
        item["status"],
        tuple(item["violations"]),
        tuple(item["agencies"]),
        tuple(item["events"]),
    )


def final_notifications(backbone: Backbone, cases: Cases) -> set[tuple[str, tuple[Any, ...]]]:
    """(party, state) of the latest notification each party of a case holds for it."""
    agencies = {agency for case in cases.values() for agency in case["notified"]}
    latest: dict[tuple[str, str], tuple[Any, ...]] = {}
    for agency in agencies:
        for note in backbone.notifications(agency):
            if agency in cases[note["case_id"]]["notified"]:
                latest[(agency, note["case_id"])] = told_state(note)
    return {(agency, state) for (agency, _), state in latest.items()}


@pytest.fixture(scope="module")
def reference(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Cases, set[tuple[str, tuple[Any, ...]]]]]:
    backbone, cases = run(Path(tmp_path_factory.mktemp("in-order")), [RECORDS])
    try:
        yield cases, final_notifications(backbone, cases)
    finally:
        backbone.stop()


class TestReference:
    """The in-order run is the yardstick; it must be a real one."""

    def test_every_party_of_every_case_has_its_final_state(
        self, reference: tuple[Cases, set[tuple[str, tuple[Any, ...]]]]
    ) -> None:
        cases, finals = reference
        expected = {(agency, told_state(c)) for c in cases.values() for agency in c["notified"]}
        assert (True, expected) == (len(expected) > 50, finals)


class TestShuffledOrder:
    """Publishing the same records in another order, in pieces, gives the same cases."""

    def test_same_final_cases(
        self, reference: tuple[Cases, set[tuple[str, tuple[Any, ...]]]], tmp_path: Path
    ) -> None:
        shuffled = RECORDS[:]
        random.Random(3).shuffle(shuffled)
        backbone, cases = run(tmp_path, [shuffled[:150], shuffled[150:]])
        try:
            expected = {key: public(case) for key, case in reference[0].items()}
            assert expected == {key: public(case) for key, case in cases.items()}
        finally:
            backbone.stop()


class TestStoppedMidStream:
    """A correlator stopped while it is busy (SIGKILL, or SIGTERM in the middle of a
    batch) and started again reaches the same cases, and every party still receives each
    case's final state."""

    @pytest.mark.parametrize("stop_with", [signal.SIGKILL, signal.SIGTERM], ids=["kill", "term"])
    def test_same_cases_and_no_missed_notification(
        self,
        reference: tuple[Cases, set[tuple[str, tuple[Any, ...]]]],
        tmp_path: Path,
        stop_with: int,
    ) -> None:
        backbone, cases = run(tmp_path, [RECORDS[:300], RECORDS[300:]], stop_after_first=stop_with)
        try:
            expected = {key: public(case) for key, case in reference[0].items()}
            actual = {key: public(case) for key, case in cases.items()}
            assert (expected, reference[1]) == (actual, final_notifications(backbone, cases))
        finally:
            backbone.stop()
