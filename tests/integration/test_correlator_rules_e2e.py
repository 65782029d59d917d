"""Correlation rules 1-9 end to end: `ketenbus publish` -> correlator -> `ketenbus cases`,
on a backbone of its own (a fresh broker, so the event-time clock is this scenario's).

Rules: docs/correlation.md#rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rule_scenario import (
    BAG_ADDRESS,
    BAG_ID,
    R1_AGENCIES,
    R1_ESTABLISHED,
    R1_SIGNAL,
    R2_AFTER,
    R2_BEFORE,
    R3_ONE,
    R3_TWO,
    R5_FIRST,
    R5_LATE,
    R5_OLD,
    R5_SECOND,
    R6_ACTED,
    R6_IDLE,
    R7_CLOSED,
    R7_REOPENED,
    SCENARIO,
    address,
    complaint,
    dwelling,
)

from correlator.projection import read_topic
from devtools.sandbox import Backbone, public
from ketenbus.agencies import CASES_TOPIC

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def backbone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backbone]:
    running = Backbone(Path(tmp_path_factory.mktemp("rules"))).start()
    try:
        running.publish(SCENARIO)
        running.wait_idle()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def cases(backbone: Backbone) -> dict[str, dict[str, Any]]:
    return backbone.cases()


class TestRule1:
    """A dwelling case opens with >= 2 codes and an established code or >= 2 agencies."""

    def test_one_complaint_stays_a_signal(self, cases: dict[str, dict[str, Any]]) -> None:
        assert ("signal", []) == (
            cases[dwelling(R1_SIGNAL)]["status"],
            cases[dwelling(R1_SIGNAL)]["notified"],
        )

    def test_two_agencies_open(self, cases: dict[str, dict[str, Any]]) -> None:
        assert "open" == cases[dwelling(R1_AGENCIES)]["status"]

    def test_an_established_code_opens(self, cases: dict[str, dict[str, Any]]) -> None:
        case = cases[dwelling(R1_ESTABLISHED)]
        assert ("open", ["OVERCROWDING"]) == (case["status"], case["established"])


class TestRule2:
    """A revoked admission reaches every dwelling linked to the staffing agency."""

    @pytest.mark.parametrize("where", [R2_AFTER, R2_BEFORE])
    def test_dwelling_gains_unadmitted_lending(
        self, cases: dict[str, dict[str, Any]], where: dict[str, Any]
    ) -> None:
        case = cases[dwelling(where)]
        assert "UNADMITTED_LENDING" in case["established"]
        assert ("open", True) == (case["status"], "nau" in case["notified"])


class TestRule3:
    """An organisation with >= 2 dwellings holding established violations is a case."""

    def test_organisation_case_opens(self, cases: dict[str, dict[str, Any]]) -> None:
        case = cases["organisation:90000003"]
        assert ("organisation", "open", ["OVERCROWDING", "UNSAFE_DWELLING"]) == (
            case["kind"],
            case["status"],
            case["violations"],
        )
        assert {dwelling(R3_ONE)[9:], dwelling(R3_TWO)[9:]} == {
            d["dwelling"] for d in case["explanation"]["dwellings"]
        }

    def test_alleged_violations_do_not_make_one(self, cases: dict[str, dict[str, Any]]) -> None:
        assert "organisation:90000004" not in cases


class TestRule4:
    """Every party gets its own notification with only the minimum; signals notify nobody."""

    def test_parties(self, cases: dict[str, dict[str, Any]]) -> None:
        assert ["gemeente:0363", "politie"] == cases[dwelling(R1_AGENCIES)]["notified"]
        assert ["gemeente:0363"] == cases[dwelling(R1_ESTABLISHED)]["notified"]

    def test_each_party_reads_the_final_state_on_its_own_topic(
        self, backbone: Backbone, cases: dict[str, dict[str, Any]]
    ) -> None:
        case = cases[dwelling(R1_AGENCIES)]
        for agency in case["notified"]:
            told = [n for n in backbone.notifications(agency) if n["case_id"] == case["case_id"]]
            assert case["case_event_id"] in {n["case_event_id"] for n in told}
        nla = backbone.notifications("nla")
        assert [] == [n for n in nla if n["case_id"] == case["case_id"]]

    def test_notification_carries_the_minimum(self, backbone: Backbone) -> None:
        note = next(
            n for n in backbone.notifications("politie") if n["case_id"] == dwelling(R1_AGENCIES)
        )
        expected_keys = {
            "notification_id",
            "case_event_id",
            "recipient",
            "case_id",
            "kind",
            "status",
            "changes",
            "address",
            "organisations",
            "violations",
            "agencies",
            "lead_agency",
            "events",
            "recidive",
            "issued_at",
        }
        assert expected_keys == set(note)
        assert ["gemeente:0363/R1-MP-2", "politie/R1-POL-2"] == note["events"]
        assert "gemeente:0363" == note["lead_agency"]

    def test_signals_notify_nobody(self, backbone: Backbone) -> None:
        told = backbone.notifications("gemeente:0363")
        assert [] == [n for n in told if n["case_id"] == dwelling(R1_SIGNAL)]


class TestRule5:
    """A sanction within 24 months of another against the same organisation is recidive."""

    def test_recidive(self, cases: dict[str, dict[str, Any]]) -> None:
        flags = [cases[dwelling(w)]["recidive"] for w in (R5_FIRST, R5_SECOND, R5_OLD, R5_LATE)]
        assert [False, True, False, False] == flags


class TestRule6:
    """An open case without a step for > 30 days of backbone clock is stalled."""

    def test_idle_case_stalls_and_everyone_hears(
        self, backbone: Backbone, cases: dict[str, dict[str, Any]]
    ) -> None:
        case = cases[dwelling(R6_IDLE)]
        assert "stalled" == case["status"]
        for agency in case["notified"]:
            statuses = {
                n["status"]
                for n in backbone.notifications(agency)
                if n["case_id"] == case["case_id"]
            }
            assert "stalled" in statuses

    def test_case_action_keeps_it_open(self, cases: dict[str, dict[str, Any]]) -> None:
        assert "open" == cases[dwelling(R6_ACTED)]["status"]


class TestRule7:
    """A clean follow-up closes; a later violation opens the case again."""

    def test_closed(self, cases: dict[str, dict[str, Any]]) -> None:
        assert "closed" == cases[dwelling(R7_CLOSED)]["status"]

    def test_reopened(self, cases: dict[str, dict[str, Any]]) -> None:
        case = cases[dwelling(R7_REOPENED)]
        assert ("open", "2026-06-08T08:00:00Z") == (case["status"], case["opened_at"])


class TestBagAlias:
    """A BAG id given with an address is an alias: BAG-only events join the address's case."""

    def test_joined_by_bag_id(self, cases: dict[str, dict[str, Any]]) -> None:
        case = cases[dwelling(BAG_ADDRESS)]
        assert (["gemeente:0363/BAG-INS-1", "politie/BAG-POL-1"], "open") == (
            case["events"],
            case["status"],
        )
        assert [] == [key for key in cases if key.startswith("dwelling:BAG-")]


class TestRule8And9:
    """Publishing again changes nothing; every change is on cases.events; rebuild = live."""

    def test_republishing_changes_nothing(
        self, backbone: Backbone, cases: dict[str, dict[str, Any]]
    ) -> None:
        before = sum(1 for _ in read_topic(CASES_TOPIC, settings=backbone.client_settings))
        backbone.publish(SCENARIO)
        backbone.wait_idle()
        after = sum(1 for _ in read_topic(CASES_TOPIC, settings=backbone.client_settings))
        assert (cases, before) == (backbone.cases(), after)

    def test_case_log_records_a_merged_case_as_removed(self, backbone: Backbone) -> None:
        log = list(read_topic(CASES_TOPIC, settings=backbone.client_settings))
        tombstones = [m.key().decode() for m in log if m.value() is None]
        assert [f"dwelling:BAG-{BAG_ID}"] == tombstones

    def test_rebuild_equals_live(
        self, backbone: Backbone, cases: dict[str, dict[str, Any]]
    ) -> None:
        backbone.stop_correlator()
        backbone.cli("rebuild", "--yes", timeout=600)
        rebuilt = backbone.cases()
        assert {k: public(v) for k, v in cases.items()} == {
            k: public(v) for k, v in rebuilt.items()
        }

    def test_rebuild_via_worker_equals_live(
        self, backbone: Backbone, cases: dict[str, dict[str, Any]]
    ) -> None:
        """The old path: a temporary worker replays every source event (every change)."""
        backbone.stop_correlator()
        backbone.cli("rebuild", "--yes", "--via-worker", timeout=600)
        rebuilt = backbone.cases()
        assert {k: public(v) for k, v in cases.items()} == {
            k: public(v) for k, v in rebuilt.items()
        }


class TestStreamPause:
    """Events minutes apart in event time are committed once the stream pauses (the exact
    clock is sent then), so the backbone goes idle after every publish."""

    def test_a_later_publish_within_the_hour_goes_idle(self, backbone: Backbone) -> None:
        if backbone.correlator is None:  # the rebuild test above leaves none running
            backbone.start_correlator()
        later = complaint("politie", "PAUSE-1", "2026-06-30", address("1011ZY", 1), "INTIMIDATION")
        later["occurred_at"] = "2026-06-30T10:10:00+02:00"
        backbone.publish([later])
        backbone.wait_idle(timeout=90)
        assert "signal" == backbone.cases()["dwelling:1011ZY-1"]["status"]
