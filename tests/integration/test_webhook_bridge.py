"""The webhook bridge against a real broker and a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from webhook_receiver import (
    BridgeProcess,
    Receiver,
    free_port,
    fresh_agency,
    notification,
    produce,
    running,
    subscription,
    wait_for,
)

from correlator.projection import read_topic
from ketenbus.agencies import DEADLETTER_TOPIC
from ketenbus.deadletter import H_REASON, H_SOURCE
from operations.webhook.core import CLOUDEVENT_TYPE, IDEMPOTENCY_HEADER

pytestmark = pytest.mark.broker


def sub_id(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def receiver() -> Receiver:
    server = Receiver(free_port()).start()
    yield server
    server.stop()


class TestDelivery:
    """Every notification reaches the receiver as a signed CloudEvent, once per id."""

    def test_delivers_every_notification(
        self, bootstrap_servers: str, tmp_path: Path, receiver: Receiver
    ) -> None:
        agency = fresh_agency(bootstrap_servers)
        records = [notification(agency, n) for n in range(1, 7)]
        produce(bootstrap_servers, agency, records)
        sid = sub_id("all")
        bridge = BridgeProcess(
            tmp_path, bootstrap_servers, [subscription(sid, agency, receiver.url)]
        )
        expected = {r["notification_id"] for r in records}
        with running(bridge):
            wait_for(lambda: expected <= receiver.delivered_ids(), what="all delivered")
            wait_for(lambda: 0 == bridge.status()[sid]["pending"], what="offsets committed")
            status = bridge.status()[sid]
        assert expected == receiver.delivered_ids()
        assert all(r.signature_ok for r in receiver.requests)
        assert (6, 0, 0) == (status["delivered"], status["retrying"], status["dead"])
        for key, request in receiver.by_key.items():
            event = request.json
            assert key == event["id"] == event["data"]["notification_id"]
            assert "application/cloudevents+json" == request.headers["Content-Type"]
            assert CLOUDEVENT_TYPE == event["type"]
            assert "1.0" == event["specversion"]
            assert event["source"].startswith("urn:nld:oin:")
            assert event["source"].endswith(":systeem:ketenbus")
            assert event["data"]["case_id"] == event["subject"]

    def test_survives_receiver_and_bridge_down(
        self, bootstrap_servers: str, tmp_path: Path, receiver: Receiver
    ) -> None:
        agency = fresh_agency(bootstrap_servers)
        sid = sub_id("outage")
        bridge = BridgeProcess(
            tmp_path, bootstrap_servers, [subscription(sid, agency, receiver.url)]
        )
        before = [notification(agency, n) for n in range(1, 4)]
        during = [notification(agency, n) for n in range(4, 10)]
        with running(bridge):
            produce(bootstrap_servers, agency, before)
            wait_for(lambda: len(receiver.delivered_ids()) == 3, what="first three delivered")
            receiver.stop()  # the agency's endpoint goes down
            produce(bootstrap_servers, agency, during)
            wait_for(lambda: 1 <= bridge.status()[sid]["retrying"], what="bridge retrying")
        # the bridge itself restarts while the endpoint is still down: nothing was committed
        with running(bridge):
            wait_for(lambda: 1 <= bridge.status()[sid]["retrying"], what="retrying again")
            receiver.start()  # back up, same port
            expected = {r["notification_id"] for r in before + during}
            wait_for(lambda: expected <= receiver.delivered_ids(), what="all delivered")
            wait_for(lambda: 0 == bridge.status()[sid]["pending"], what="offsets committed")
            status = bridge.status()[sid]
        assert expected == receiver.delivered_ids()  # each id counted once
        keys = [r.headers[IDEMPOTENCY_HEADER] for r in receiver.requests if r.signature_ok]
        assert expected == set(keys)  # ... and sent at least once
        assert (9, 0, 0) == (status["delivered"], status["retrying"], status["dead"])


class TestDeadLetters:
    """After the retry budget a notification is dead-lettered; redeliver sends it later."""

    def test_dead_letter_then_redeliver(
        self, bootstrap_servers: str, tmp_path: Path, receiver: Receiver
    ) -> None:
        agency = fresh_agency(bootstrap_servers)
        sid = sub_id("dead")
        receiver.status = 500
        records = [notification(agency, n) for n in (1, 2)]
        produce(bootstrap_servers, agency, records)
        expected = {r["notification_id"] for r in records}
        bridge = BridgeProcess(
            tmp_path,
            bootstrap_servers,
            [subscription(sid, agency, receiver.url, retry_budget_seconds=2)],
        )
        with running(bridge):
            wait_for(lambda: 2 == bridge.status()[sid]["dead"], what="both dead")
            wait_for(lambda: 0 == bridge.status()[sid]["pending"], what="offsets committed")
        assert set() == receiver.delivered_ids()
        assert 2 < len(receiver.requests)  # it did retry
        dead = [
            dict(m.headers() or [])
            for m in read_topic(DEADLETTER_TOPIC, bootstrap_servers)
            if (H_SOURCE, f"webhook:{sid}".encode()) in (m.headers() or [])
        ]
        assert 2 == len(dead)
        assert {b"webhook_retry_budget_spent"} == {h[H_REASON] for h in dead}

        failed = bridge.cli("webhook", "redeliver", "--subscription", sid, "--all")
        assert 1 == failed.returncode  # still failing: they stay dead
        assert 2 == bridge.status()[sid]["dead"]

        receiver.status = 200  # the endpoint recovers
        done = bridge.cli("webhook", "redeliver", "--subscription", sid, "--all")
        assert 0 == done.returncode, done.stderr
        assert "redelivered 2, failed 0" in done.stdout
        assert expected == receiver.delivered_ids()
        status = bridge.status()[sid]
        assert (0, 2) == (status["dead"], status["delivered"])
        again = bridge.cli("webhook", "redeliver", "--subscription", sid, "--all")
        assert "redelivered 0, failed 0" in again.stdout  # settled: nothing left to send


class TestFiltersAndZgw:
    """A zgw subscription gets only what its filters accept, as ZGW Notificaties messages."""

    def test_filters_and_zgw_body(
        self, bootstrap_servers: str, tmp_path: Path, receiver: Receiver
    ) -> None:
        agency = fresh_agency(bootstrap_servers)
        cbs = agency.split(":")[1]
        records = [
            notification(
                agency, 1, status="open", violations=["UNDERPAYMENT"], changes=["status:new->open"]
            ),
            notification(agency, 2, status="signal", violations=["UNDERPAYMENT"]),
            notification(agency, 3, status="stalled", violations=["OVERCROWDING"]),
            notification(
                agency,
                4,
                status="stalled",
                violations=["OVERCROWDING", "UNDERPAYMENT"],
                changes=["status:open->stalled"],
            ),
            notification(agency, 5, status="closed", violations=["UNDERPAYMENT"]),
        ]
        produce(bootstrap_servers, agency, records)
        sid = sub_id("zgw")
        filters = {
            "status": ["open", "stalled"],
            "violations": ["UNDERPAYMENT"],
            "municipality": [cbs],
        }
        bridge = BridgeProcess(
            tmp_path,
            bootstrap_servers,
            [
                subscription(
                    sid,
                    agency,
                    receiver.url,
                    format="zgw",
                    filters=filters,
                    auth="Bearer zgw-token",
                )
            ],
        )
        with running(bridge):
            wait_for(lambda: 0 == bridge.status()[sid]["pending"], what="all handled")
            status = bridge.status()[sid]
        wanted = {records[0]["notification_id"], records[3]["notification_id"]}
        assert wanted == receiver.delivered_ids()
        assert (2, 3) == (status["delivered"], status["filtered"])
        first = receiver.by_key[records[0]["notification_id"]]
        message = first.json
        assert "Bearer zgw-token" == first.headers["Authorization"]
        assert {
            "kanaal",
            "hoofdObject",
            "resource",
            "resourceUrl",
            "actie",
            "aanmaakdatum",
            "kenmerken",
        } == set(message)
        assert "ketenbus-zaken" == message["kanaal"]
        assert message["resourceUrl"].endswith("/dwelling:3083AB-1")
        assert "create" == message["actie"]
        assert "2026-05-02T09:30:01Z" == message["aanmaakdatum"]
        assert {"status": "open", "violations": "UNDERPAYMENT", "municipality": cbs} == {
            k: message["kenmerken"][k] for k in ("status", "violations", "municipality")
        }
        assert "update" == receiver.by_key[records[3]["notification_id"]].json["actie"]


def healthz(bridge: BridgeProcess) -> tuple[int, dict[str, Any]]:
    """(status, document) of the bridge's /healthz; (0, {}) while it does not answer."""
    url = f"http://127.0.0.1:{bridge.env['KETENBUS_WEBHOOK_PORT']}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())
    except OSError:
        return 0, {}


class TestHealth:
    """/healthz answers 200 while every subscription's consumer polls, 503 (naming the
    subscription) once one stops, e.g. because its broker cannot be reached."""

    def test_healthy_while_polling(
        self, bootstrap_servers: str, tmp_path: Path, receiver: Receiver
    ) -> None:
        agency = fresh_agency(bootstrap_servers)
        sid = sub_id("healthy")
        bridge = BridgeProcess(
            tmp_path, bootstrap_servers, [subscription(sid, agency, receiver.url)]
        )
        bridge.env["KETENBUS_WEBHOOK_STALE_SECONDS"] = "5"
        with running(bridge):
            wait_for(lambda: 0 != healthz(bridge)[0], what="healthz answers")
            time.sleep(6)  # longer than the stale bound: still polling
            code, document = healthz(bridge)
        assert (200, True, True) == (code, document["ok"], document["subscriptions"][sid]["ok"])

    def test_unhealthy_when_a_subscription_cannot_consume(
        self, bootstrap_servers: str, tmp_path: Path, receiver: Receiver
    ) -> None:
        sid = sub_id("unreachable")
        nowhere = f"127.0.0.1:{free_port()}"  # no broker listens there
        bridge = BridgeProcess(tmp_path, nowhere, [subscription(sid, "nla", receiver.url)])
        bridge.env["KETENBUS_WEBHOOK_STALE_SECONDS"] = "3"
        with running(bridge):
            wait_for(lambda: 503 == healthz(bridge)[0], what="healthz 503")
            code, document = healthz(bridge)
        assert (503, False, False) == (code, document["ok"], document["subscriptions"][sid]["ok"])
