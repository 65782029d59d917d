"""Intake trust against the real broker: who may publish (401/403 matrix), conflicting
re-sends (409, across restarts), limits enforced while reading, batch answers per record,
the audit trail, and `ketenbus publish` never crashing on bad lines."""

from __future__ import annotations

import json
import os
import random
import select
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from agency_topics_reader import end_offsets, headers_of, read_range
from confluent_kafka.admin import AdminClient
from fastapi.testclient import TestClient
from intake_auth import LOOPBACK_PEER, TokenAuth

from devtools.samples import record
from devtools.service_process import ServiceProcess
from intake.app import create_app
from intake.clients import issue_intake_client, make_token, sign
from intake.publisher import ProducerPool
from intake.runtime import build_publisher
from ketenbus.agencies import DEADLETTER_TOPIC, source_topic
from ketenbus.kafka_clients import client_config
from ketenbus.settings import Settings, get_settings

pytestmark = pytest.mark.broker

RUN = uuid.uuid4().hex[:8]
KETENBUS = str(Path(sys.executable).parent / "ketenbus")


@pytest.fixture(scope="module")
def settings(bootstrap_servers: str) -> Settings:
    get_settings.cache_clear()
    return get_settings()


def fresh_municipality(bootstrap_servers: str) -> str:
    topics = (
        AdminClient(client_config(bootstrap_servers=bootstrap_servers))
        .list_topics(timeout=30)
        .topics
    )
    while True:
        cbs = f"{random.randint(9000, 9999)}"
        if f"events.gemeente.{cbs}" not in topics:
            return f"gemeente:{cbs}"


@pytest.fixture(scope="module")
def gemeente(settings: Settings) -> Iterator[TestClient]:
    app = create_app(build_publisher(["gemeente"], settings=settings), service="gemeente")
    with TestClient(app, client=LOOPBACK_PEER) as client:
        yield client


def letters_since(
    bootstrap_servers: str, since: dict[int, int], reason: str | None = None
) -> list[Any]:
    found = read_range(bootstrap_servers, DEADLETTER_TOPIC, since)
    if reason is None:
        return found
    return [m for m in found if headers_of(m).get("ketenbus.errors.reason") == reason]


ENDPOINTS = ("/records", "/agencies/{agency}/records", "/records:batch")
CASES = {
    "no token": 401,
    "not a JWT": 401,
    "wrong secret": 401,
    "expired": 401,
    "another municipality's client": 403,
    "own client": 202,
}


class TestWhoMayPublish:
    """Every intake endpoint: no or a bad token 401, another agency's record 403, both
    problem+json with nothing published; the agency's own client 202."""

    ENDPOINTS = ENDPOINTS
    CASES = CASES

    @pytest.fixture(scope="class")
    def matrix(
        self, gemeente: TestClient, settings: Settings, bootstrap_servers: str
    ) -> dict[str, Any]:
        agency = fresh_municipality(bootstrap_servers)
        other = fresh_municipality(bootstrap_servers)
        issue_intake_client(agency, settings=settings)
        headers = {
            "no token": {},
            "not a JWT": {"Authorization": "Bearer abc.def"},
            "wrong secret": {
                "Authorization": "Bearer " + sign(agency.replace(":", "-"), "w" * 48, settings)
            },
            "expired": {
                "Authorization": "Bearer " + make_token(agency, settings, now=time.time() - 3600)
            },
            "another municipality's client": {
                "Authorization": f"Bearer {make_token(other, settings)}"
            },
        }
        answers: dict[tuple[str, str], httpx.Response] = {}
        for n, endpoint in enumerate(self.ENDPOINTS):
            for m, case in enumerate(self.CASES):
                body = json.dumps(record(agency, "complaint", 10 * n + m, prefix=f"W{RUN}"))
                auth = {"Authorization": f"Bearer {make_token(agency, settings)}"}
                answers[(endpoint, case)] = gemeente.post(
                    endpoint.format(agency=agency),
                    content=body,
                    headers=headers.get(case, auth),
                    auth=None,
                )
        return {"agency": agency, "answers": answers}

    def test_statuses(self, matrix: dict[str, Any]) -> None:
        expected = {(e, c): s for e in self.ENDPOINTS for c, s in self.CASES.items()}
        actual = {key: r.status_code for key, r in matrix["answers"].items()}
        assert expected == actual

    def test_refusals_are_problem_details(self, matrix: dict[str, Any]) -> None:
        refused = [r for r in matrix["answers"].values() if r.status_code >= 400]
        shapes = {
            (
                r.headers["content-type"],
                r.json()["status"] == r.status_code,
                r.json()["type"].startswith("urn:ketenbus:problem:"),
                bool(r.json()["title"]) and bool(r.json()["detail"]),
            )
            for r in refused
        }
        assert {("application/problem+json", True, True, True)} == shapes

    def test_401_names_the_scheme(self, matrix: dict[str, Any]) -> None:
        challenges = {
            r.headers.get("www-authenticate")
            for r in matrix["answers"].values()
            if r.status_code == 401
        }
        assert {'Bearer realm="ketenbus-intake"'} == challenges

    def test_only_accepted_records_published(
        self, matrix: dict[str, Any], bootstrap_servers: str
    ) -> None:
        events = read_range(bootstrap_servers, source_topic(matrix["agency"]))
        assert len(self.ENDPOINTS) == len(events)


class TestResentRefs:
    """A ref re-sent with the same content is an idempotent 202; with other content a 409,
    dead-lettered, also after a restart of the service."""

    def test_same_content_twice(self, gemeente: TestClient, settings: Settings) -> None:
        gemeente.auth = TokenAuth("gemeente:0599", settings)
        data = record("gemeente:0599", "complaint", 1, prefix=f"S{RUN}")
        first = gemeente.post("/records", content=json.dumps(data))
        again = gemeente.post("/records", content=json.dumps(data))
        assert (202, 202, first.json()["event_id"]) == (
            first.status_code,
            again.status_code,
            again.json()["event_id"],
        )

    def test_same_content_in_other_spelling(self, gemeente: TestClient, settings: Settings) -> None:
        gemeente.auth = TokenAuth("gemeente:0599", settings)
        data = record("gemeente:0599", "complaint", 2, prefix=f"S{RUN}")
        first = gemeente.post("/records", content=json.dumps(data))
        data["address"]["postcode"] = data["address"]["postcode"].replace(" ", "").lower()
        again = gemeente.post("/records", content=json.dumps(data))
        assert (202, 202) == (first.status_code, again.status_code)

    def test_other_content_conflicts_even_after_restart(
        self, gemeente: TestClient, settings: Settings, bootstrap_servers: str
    ) -> None:
        gemeente.auth = TokenAuth("gemeente:0599", settings)
        data = record("gemeente:0599", "complaint", 3, prefix=f"C{RUN}")
        since = end_offsets(bootstrap_servers, DEADLETTER_TOPIC)
        first = gemeente.post("/records", content=json.dumps(data))
        changed = data | {"violations": ["UNSAFE_DWELLING"]}
        conflict = gemeente.post("/records", content=json.dumps(changed))
        restarted = create_app(build_publisher(["gemeente"], settings=settings), service="gemeente")
        with TestClient(restarted, client=LOOPBACK_PEER) as fresh:
            fresh.auth = TokenAuth("gemeente:0599", settings)
            after_restart = fresh.post("/records", content=json.dumps(changed))
            same_after_restart = fresh.post("/records", content=json.dumps(data))
        letters = letters_since(bootstrap_servers, since, "ref_conflict")
        assert (202, 409, 409, 202, 2) == (
            first.status_code,
            conflict.status_code,
            after_restart.status_code,
            same_after_restart.status_code,
            len(letters),
        )


class TestBatchAnswers:
    """A batch answers, line by line, which records were published and which were not."""

    def test_each_line(
        self, gemeente: TestClient, settings: Settings, bootstrap_servers: str
    ) -> None:
        gemeente.auth = TokenAuth("gemeente:0599", settings)
        good = record("gemeente:0599", "complaint", 4, prefix=f"B{RUN}")
        gemeente.post("/records", content=json.dumps(good | {"ref": f"B{RUN}-first"}))
        lines = [
            json.dumps(good),
            json.dumps(good | {"address": {"postcode": "Jan de Vries", "house_number": 1}}),
            json.dumps(good | {"ref": "X" * 70_000}),
            json.dumps(good | {"ref": f"B{RUN}-first", "violations": ["UNSAFE_DWELLING"]}),
            json.dumps(record("gemeente:0363", "complaint", 4, prefix=f"B{RUN}")),
            "",
            "{broken",
        ]
        since = end_offsets(bootstrap_servers, DEADLETTER_TOPIC)
        answer = gemeente.post("/records:batch", content="\n".join(lines)).json()
        refused = [(r["line"], r["status"], r["reason"]) for r in answer["refused"]]
        letters = letters_since(bootstrap_servers, since)
        assert (
            [1],
            [
                (2, 422, "invalid_record"),
                (3, 413, "too_large"),
                (4, 409, "ref_conflict"),
                (5, 403, "agency_not_authorised"),
                (7, 400, "malformed"),
            ],
            5,
        ) == ([a["line"] for a in answer["accepted"]], refused, len(letters))


def send_chunked(url: str, token: str, limit: int) -> tuple[int, int]:
    """Stream up to `limit` bytes as a chunked body; stop when the server answers.
    Returns (status, bytes sent)."""
    host, port = url.removeprefix("http://").split(":")
    chunk = b"[" * 65536
    sent = 0
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {token}\r\n".encode()
            + b"Transfer-Encoding: chunked\r\n\r\n"
        )
        try:
            while sent < limit:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = sock.recv(4096)
    return int(response.split(b" ", 2)[1]), sent


class TestServedProcess:
    """The service as deployed: a 200 MiB chunked body is cut off early, every request
    is audited, operations endpoints answer loopback callers."""

    @pytest.fixture(scope="class")
    def service(
        self, bootstrap_servers: str, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[ServiceProcess]:
        log = tmp_path_factory.mktemp("service") / "gemeente.log"
        service = ServiceProcess("gemeente", bootstrap_servers, log)
        try:
            service.wait_ready()
            yield service
        finally:
            service.stop()

    def test_streamed_body_cut_off(self, service: ServiceProcess, settings: Settings) -> None:
        status, sent = send_chunked(
            service.url, make_token("gemeente:0599", settings), 200 * 1024 * 1024
        )
        assert (413, True, True) == (status, sent < 16 * 1024 * 1024, service.alive)

    def test_audit_line_per_request(self, service: ServiceProcess, settings: Settings) -> None:
        token = make_token("gemeente:0599", settings)
        good = record("gemeente:0599", "complaint", 5, prefix=f"A{RUN}")
        bad = good | {"ref": f"A{RUN}-bad", "naam": "Jan de Vries"}
        ids = {"accepted": f"req-{RUN}-1", "invalid": f"req-{RUN}-2", "anonymous": f"req-{RUN}-3"}
        with httpx.Client(base_url=service.url, timeout=30) as http:
            for kind, body, auth in (
                ("accepted", good, True),
                ("invalid", bad, True),
                ("anonymous", good, False),
            ):
                headers = {"X-Request-ID": ids[kind]}
                if auth:
                    headers["Authorization"] = f"Bearer {token}"
                http.post("/records", content=json.dumps(body), headers=headers)
        time.sleep(0.5)  # the log is written by another process
        lines = [
            json.loads(line)
            for line in service.log.read_text().splitlines()
            if line.startswith("{")
        ]
        audited = {
            line["request_id"]: (line["client"], line["agency"], line["ref"], line["outcome"])
            for line in lines
            if line.get("event") == "request_audited" and line["request_id"] in ids.values()
        }
        expected = {
            ids["accepted"]: ("gemeente-0599", "gemeente:0599", good["ref"], "accepted"),
            ids["invalid"]: ("gemeente-0599", "gemeente:0599", bad["ref"], "invalid_record"),
            ids["anonymous"]: ("anonymous", None, None, "missing_token"),
        }
        assert (expected, False) == (audited, "Jan de Vries" in service.log.read_text())

    def test_operations_endpoints_on_loopback(self, service: ServiceProcess) -> None:
        metrics = httpx.get(f"{service.url}/metrics", timeout=10)
        assert (200, True) == (
            metrics.status_code,
            'ketenbus_intake_requests_total{client="gemeente-0599"' in metrics.text,
        )


class TestPublishNeverCrashes:
    """`ketenbus publish` reports every unreadable line and goes on."""

    def run(self, *files: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KETENBUS, "publish", *map(str, files)],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
            timeout=300,
        )

    def test_hostile_jsonl(self, bootstrap_servers: str, tmp_path: Path) -> None:
        agency = fresh_municipality(bootstrap_servers)
        good = json.dumps(record(agency, "complaint", 6, prefix=f"P{RUN}")).encode()
        path = tmp_path / "hostile.jsonl"
        path.write_bytes(
            b"\n".join(
                [
                    b"[" * 100_000 + b"]" * 100_000,
                    b'{"ref": "\xff\xfe\xfd"}',
                    b'{"amount_eur": NaN}',
                    b'{"ref": "' + b"x" * (2 * 1024 * 1024) + b'"}',
                    good,
                ]
            )
            + b"\n"
        )
        result = self.run(path)
        reported = sorted(
            int(line.split(": line ", 1)[1].split(":", 1)[0])
            for line in result.stderr.splitlines()
            if ": line " in line
        )
        assert (1, "published 1, rejected 4", [1, 2, 3, 4], False) == (
            result.returncode,
            result.stdout.strip(),
            reported,
            "Traceback" in result.stderr,
        )

    def test_hostile_csv(self, bootstrap_servers: str, tmp_path: Path) -> None:
        agency = fresh_municipality(bootstrap_servers)
        cbs = agency.split(":")[1]
        path = tmp_path / "meldingen.csv"
        path.write_bytes(
            b"gemeentecode;meldingnummer;datum_melding;postcode;huisnummer\n"
            + f'{cbs};Q{RUN}-1;02-05-2026 11:30;"{"x" * 300_000}";12\n'.encode()
            + f"{cbs};Q{RUN}-2;02-05-2026 11:30;3083 \xff\xfe;12\n".encode("latin-1")
            + f'{cbs};Q{RUN}-3;02-05-2026 11:30;"3083\n'.encode()
            + ("x" * 200_000 + '";12\n').encode()
            + f"{cbs};Q{RUN}-4;02-05-2026 11:30;3083 AB;{'9' * 5000}\n".encode()
            + f"{cbs};Q{RUN}-5;02-05-2026 11:30;3083 AB;12\n".encode()
        )
        result = self.run(path)
        assert (1, "published 1, rejected 4", False) == (
            result.returncode,
            result.stdout.strip(),
            "Traceback" in result.stderr,
        )


class TestPublishPrincipals:
    """`ketenbus publish` produces each record as its agency's principal when that
    agency's credentials are in the secrets dir (the dev broker issues the listed ones)."""

    def test_principal_per_agency(self, settings: Settings) -> None:
        pool = ProducerPool(settings, per_agency=True)
        service = ProducerPool(settings)
        assert ("nla", "gemeente-0599", None, None) == (
            pool.principal_for("nla"),
            pool.principal_for("gemeente:0599"),
            pool.principal_for("gemeente:9997"),  # no credentials: the process's own
            service.principal_for("nla"),  # an agency service: always its own principal
        )
