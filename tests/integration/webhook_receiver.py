"""Test helpers for the webhook bridge: a real HTTP receiver on 127.0.0.1 that verifies
signatures and deduplicates by Idempotency-Key, notification producers, and the bridge
and CLI run as processes with their own environment."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka.admin import AdminClient  # type: ignore[attr-defined]

from ketenbus.agencies import notification_topic
from ketenbus.contracts.codec import get_codec
from ketenbus.kafka_clients import client_config
from ketenbus.producer import OutgoingRecord, ReliableProducer
from ketenbus.settings import get_settings
from ketenbus.topics.admin import ensure_agency_topics
from operations.webhook.core import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)

SECRET = "test-secret"
NOTIFICATION = "nl.ketenbus.cases.Notification"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An agency endpoint: answers `status` (200 unless told otherwise), keeps every
    request, and counts each Idempotency-Key once (what a real receiver must do)."""

    port: int
    status: int = 200
    requests: list[Received] = field(default_factory=list)
    by_key: dict[str, Received] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k: v for k, v in self.headers.items()}
                ok = verify_signature(
                    SECRET.encode(),
                    body,
                    self.headers.get(SIGNATURE_HEADER, ""),
                    self.headers.get(TIMESTAMP_HEADER, ""),
                )
                item = Received(headers, body, ok)
                with receiver.lock:
                    receiver.requests.append(item)
                    status = receiver.status if ok else 401
                    if 200 <= status < 300:
                        receiver.by_key.setdefault(self.headers[IDEMPOTENCY_HEADER], item)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def delivered_ids(self) -> set[str]:
        with self.lock:
            return set(self.by_key)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_agency(bootstrap_servers: str) -> str:
    """An unlisted municipality: its notification topic comes from the pattern entry, so
    every test has a topic nobody else writes."""
    settings = get_settings().model_copy(update={"bootstrap_servers": bootstrap_servers})
    existing = set(
        AdminClient(client_config(bootstrap_servers=bootstrap_servers))
        .list_topics(timeout=10)
        .topics
    )
    while True:
        agency = f"gemeente:{random.randint(2000, 9999)}"
        if notification_topic(agency) not in existing:
            ensure_agency_topics(agency, settings=settings)
            return agency


def notification(agency: str, n: int, **overrides: Any) -> dict[str, Any]:
    """An Avro Notification record (what the correlator produces)."""
    cbs = agency.split(":")[1]
    record: dict[str, Any] = {
        "notification_id": f"{agency}-{n}-{random.getrandbits(32):08x}",
        "case_event_id": f"ce-{n}",
        "recipient": agency,
        "case_id": f"dwelling:3083AB-{n}",
        "kind": "dwelling",
        "status": "open",
        "changes": ["status:signal->open"],
        "address": {
            "key": f"3083AB-{n}",
            "postcode": "3083AB",
            "house_number": n,
            "municipality_code": cbs,
        },
        "organisations": ["12345678"],
        "violations": ["OVERCROWDING", "INTIMIDATION"],
        "agencies": [agency, "politie"],
        "lead_agency": agency,
        "events": [{"agency": agency, "ref": f"MP-{n}"}],
        "recidive": False,
        "issued_at": datetime(2026, 5, 2, 9, 30, n % 60, tzinfo=UTC),
    }
    record.update(overrides)
    return record


def produce(bootstrap_servers: str, agency: str, records: list[dict[str, Any]]) -> None:
    codec = get_codec()
    with ReliableProducer(bootstrap_servers) as producer:
        producer.send_many(
            OutgoingRecord(
                topic=notification_topic(agency),
                value=codec.encode(NOTIFICATION, record),
                key=record["case_id"],
            )
            for record in records
        )


def wait_for(condition: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.2)


class BridgeProcess:
    """`python -m operations.webhook` with a subscriptions file and home of its own."""

    def __init__(
        self, home: Path, bootstrap_servers: str, subscriptions: list[dict[str, Any]]
    ) -> None:
        self.home = home
        self.file = home / "subscriptions.yaml"
        self.file.write_text(yaml.safe_dump({"subscriptions": subscriptions}))
        self.env = {
            **os.environ,
            "KETENBUS_HOME": str(home),
            "KETENBUS_BOOTSTRAP_SERVERS": bootstrap_servers,
            "KETENBUS_KAFKA_PRINCIPAL": "ketenbus-webhook",  # held to the bridge's ACLs
            "KETENBUS_WEBHOOK_SUBSCRIPTIONS_FILE": str(self.file),
            "KETENBUS_WEBHOOK_PORT": str(free_port()),
            "KETENBUS_WEBHOOK_RETRY_INITIAL_SECONDS": "0.2",
            "KETENBUS_WEBHOOK_RETRY_MAX_DELAY_SECONDS": "1",
            "KETENBUS_WEBHOOK_TIMEOUT_SECONDS": "2",
            "KETENBUS_ENVIRONMENT": "test",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> BridgeProcess:
        self.log = (self.home / "bridge.out").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "operations.webhook"],
            env=self.env,
            stdout=self.log,
            stderr=self.log,
        )
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ketenbus", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def status(self) -> dict[str, dict[str, Any]]:
        done = self.cli("webhook", "status", "--json")
        assert 0 == done.returncode, done.stderr
        return {row["subscription"]: row for row in json.loads(done.stdout)}


@contextlib.contextmanager
def running(bridge: BridgeProcess) -> Iterator[BridgeProcess]:
    bridge.start()
    try:
        yield bridge
    finally:
        bridge.stop()


def subscription(sub_id: str, agency: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"id": sub_id, "agency": agency, "callback_url": url, "secret": SECRET, **extra}
