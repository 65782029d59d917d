"""A correlator worker whose inbox partitions have lag but make no progress reports
`/healthz` 503 naming them (so its keeper restarts it); an idle worker stays healthy.

The worker is made to hang the way a real one can: its outputs to `cases.events` are
never acknowledged (the topic demands more in-sync replicas than the single broker has,
so every produce is retried), so no batch completes and no offset is committed.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)
from convergence import RECORDS

from devtools.sandbox import Backbone
from ketenbus.agencies import CASES_TOPIC
from ketenbus.kafka_clients import client_config

pytestmark = [pytest.mark.broker, pytest.mark.timeout(600)]

STALL_S = 10


def healthz(port: int) -> tuple[int, dict[str, Any]]:
    """(status, document) of a worker's /healthz; (0, {}) while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())
    except OSError:
        return 0, {}


def wait_for_status(port: int, status: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code, document = healthz(port)
        if code == status:
            return document
        time.sleep(1.0)
    raise AssertionError(f"/healthz never answered {status} within {timeout:.0f} s")


def set_min_insync(backbone: Backbone, value: int) -> None:
    admin = AdminClient(client_config(backbone.client_settings))
    resource = ConfigResource(
        ResourceType.TOPIC,
        CASES_TOPIC,
        incremental_configs=[
            ConfigEntry(
                "min.insync.replicas", str(value), incremental_operation=AlterConfigOpType.SET
            )
        ],
    )
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


class TestStalledWorkerUnhealthy:
    """Idle with nothing to do: 200. Lag and no committed progress for longer than
    KETENBUS_CORRELATOR_STALL_SECONDS: 503 with the stalled partitions."""

    def test_idle_healthy_then_stalled_unhealthy(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("KETENBUS_CORRELATOR_STALL_SECONDS", str(STALL_S))
        backbone = Backbone(tmp_path).start()
        port = backbone.web_port
        try:
            backbone.publish(RECORDS[:30])
            backbone.wait_idle(120)
            time.sleep(2 * STALL_S)  # idle for longer than the bound: nothing to do is fine
            idle_code, idle = healthz(port)
            set_min_insync(backbone, 2)  # outputs to cases.events are never acknowledged
            backbone.publish(RECORDS[30:])
            stalled = wait_for_status(port, 503, timeout=180)
        finally:
            set_min_insync(backbone, 1)
            backbone.stop()
        topics = {entry["topic"] for entry in stalled["stalled"]}
        assert (200, True, []) == (idle_code, idle["ok"], idle["stalled"])
        assert (False, True) == (stalled["ok"], stalled["ingest"])
        assert set() == topics - {
            "ketenbus-cases-dwelling-inbox",
            "ketenbus-cases-organisation-inbox",
        }
        assert all(entry["lag"] > 0 for entry in stalled["stalled"])
        assert [] != stalled["stalled"]
