"""The belastingdienst service against the real broker: mapped native records through its HTTP
intake, its native sample file through `ketenbus publish`, and the service as `ketenbus up`
runs it.

Scaffolded by `ketenbus new-adapter`; extend it with the agency's own cases.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from agency_topics_reader import read_at
from fastapi.testclient import TestClient

import agencies.belastingdienst as belastingdienst
from agencies.belastingdienst import map_native
from devtools.supervisor import Supervisor, adapter_services
from intake.app import create_app
from intake.clients import make_token
from intake.events import event_id
from intake.runtime import build_publisher
from ketenbus.contracts.codec import get_codec
from ketenbus.settings import get_settings

pytestmark = pytest.mark.broker

AGENCY = "belastingdienst"
SAMPLE = Path(belastingdienst.__file__).parent / "samples" / "sample.belastingdienst.jsonl"
SAMPLES: list[dict[str, Any]] = [
    json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()
]


@pytest.fixture(scope="module")
def client(bootstrap_servers: str) -> TestClient:
    get_settings.cache_clear()
    settings = get_settings()
    assert bootstrap_servers == settings.bootstrap_servers
    app = create_app(build_publisher([AGENCY], settings=settings), service=AGENCY)
    # the agency's own intake client (created in dev/test when missing)
    token = make_token(AGENCY, settings)
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


class TestHttpIntake:
    """Each mapped sample record is acknowledged and lands decodable on events.belastingdienst."""

    @pytest.mark.parametrize(
        "native", SAMPLES, ids=[n["onderzoeksnummer"] + "-" + n["bericht"] for n in SAMPLES]
    )
    def test_published(
        self, client: TestClient, bootstrap_servers: str, native: dict[str, Any]
    ) -> None:
        data = map_native(native)
        response = client.post(f"/agencies/{AGENCY}/records", content=json.dumps(data))
        assert 202 == response.status_code, response.text
        body = response.json()
        msg = read_at(bootstrap_servers, body["topic"], body["partition"], body["offset"])
        decoded = get_codec().decode(msg.value()).record
        assert (f"events.{AGENCY}", AGENCY, data["ref"], event_id(AGENCY, data["ref"])) == (
            msg.topic(),
            decoded["agency"],
            decoded["ref"],
            decoded["event_id"],
        )

    def test_record_of_another_agency_is_refused(self, client: TestClient) -> None:
        data = map_native(SAMPLES[0]) | {"agency": "nla"}
        response = client.post(f"/agencies/{AGENCY}/records", content=json.dumps(data))
        assert 403 == response.status_code


class TestNativeFile:
    """`ketenbus publish` reads the native sample file through this adapter."""

    def test_publish_native_sample(self, bootstrap_servers: str) -> None:
        env = os.environ | {"KETENBUS_BOOTSTRAP_SERVERS": bootstrap_servers}
        result = subprocess.run(
            [sys.executable, "-m", "ketenbus", "publish", str(SAMPLE)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert (0, f"published {len(SAMPLES)}, rejected 0") == (
            result.returncode,
            result.stdout.strip(),
        ), result.stderr


class TestRunByKetenbusUp:
    """`ketenbus up` finds the service through topics.yaml and runs its intake API."""

    def test_started_ready_stopped(self, bootstrap_servers: str, tmp_path: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        settings = get_settings().model_copy(
            update={"home": tmp_path, "adapter_ports": {AGENCY: port}}
        )
        spec = next(s for s in adapter_services(settings) if s.name == AGENCY)
        supervisor = Supervisor(settings, services=(spec,))
        _, started = supervisor.start(spec)
        try:
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code
        finally:
            stopped = supervisor.stop(spec)
        assert (True, 200, True) == (started, ready, stopped)
