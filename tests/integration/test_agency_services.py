"""The agency services against the real broker: HTTP intake, file import, dead letters,
deterministic event ids, CloudEvents headers, and no BSN in clear on any topic."""

from __future__ import annotations

import gc
import json
import os
import random
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from agency_topics_reader import all_bytes, end_offsets, headers_of, read_at, read_range
from confluent_kafka.admin import AdminClient
from fastapi.testclient import TestClient
from intake_auth import LOOPBACK_PEER, TokenAuth

from devtools.samples import BAD_LINES, jsonl_lines, record, synthetic_bsn
from intake.app import create_app
from intake.events import EVENT_TYPES, event_id
from intake.registry import BUILTIN_ADAPTERS
from intake.runtime import build_publisher
from ketenbus.agencies import DEADLETTER_TOPIC, source_topic
from ketenbus.contracts.codec import get_codec
from ketenbus.kafka_clients import client_config
from ketenbus.settings import Settings, get_settings

pytestmark = pytest.mark.broker

RUN = uuid.uuid4().hex[:8]
KETENBUS = str(Path(sys.executable).parent / "ketenbus")
N = 11  # sample number: address 3011 BD 12, KvK 10000407
ADDRESS_KEY = "3011BD-12"
KVK_KEY = "10000407"
EXPECTED_KEY = {
    "complaint": ADDRESS_KEY,
    "inspection": ADDRESS_KEY,
    "case_action": ADDRESS_KEY,
    "sanction": KVK_KEY,
    "admission_revoked": KVK_KEY,
    "admission_granted": KVK_KEY,
    "admission_suspended": KVK_KEY,
}
OINS = {
    "gemeente:0599": "00000001000005990000",
    "nla": "00000001003214345000",
    "politie": "00000001001892092000",
    "nau": "00000001003214346000",
}
ALLOWED = {
    "gemeente": ("gemeente:0599", ("complaint", "inspection", "sanction", "case_action")),
    "nla": ("nla", ("complaint", "inspection", "sanction", "case_action")),
    "politie": ("politie", ("complaint", "inspection", "sanction", "case_action")),
    "nau": (
        "nau",
        (
            "sanction",
            "admission_revoked",
            "admission_granted",
            "admission_suspended",
            "case_action",
        ),
    ),
}
PUBLISHES = [(s, a, t) for s, (a, types) in ALLOWED.items() for t in types]
FORBIDDEN = [
    ("gemeente", "gemeente:0599", "admission_revoked"),
    ("nla", "nla", "admission_revoked"),
    ("politie", "politie", "admission_suspended"),
    ("nau", "nau", "complaint"),
    ("nau", "nau", "inspection"),
]


@pytest.fixture(scope="module")
def settings(bootstrap_servers: str) -> Settings:
    get_settings.cache_clear()
    settings = get_settings()
    assert bootstrap_servers == settings.bootstrap_servers
    return settings


#: The agency each service's test client authenticates as.
CLIENT_AGENCY = {"gemeente": "gemeente:0599", "nla": "nla", "politie": "politie", "nau": "nau"}


@pytest.fixture(scope="module")
def clients(settings: Settings) -> dict[str, TestClient]:
    """One intake API per agency service, each over its own publisher, each called by
    its agency's intake client."""
    made = {}
    for service in BUILTIN_ADAPTERS:
        client = TestClient(
            create_app(build_publisher([service], settings=settings), service=service),
            client=LOOPBACK_PEER,
        )
        client.auth = TokenAuth(CLIENT_AGENCY[service], settings)
        made[service] = client
    return made


def fresh_municipality(bootstrap_servers: str) -> str:
    """A municipality whose source topic does not exist yet (counts start at zero)."""
    topics = (
        AdminClient(client_config(bootstrap_servers=bootstrap_servers))
        .list_topics(timeout=30)
        .topics
    )
    for _ in range(200):
        cbs = f"{random.randint(9000, 9999)}"
        if f"events.gemeente.{cbs}" not in topics:
            return f"gemeente:{cbs}"
    raise AssertionError("no free municipality code left in 9000-9999")


def run_publish(bootstrap_servers: str, *files: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"KETENBUS_BOOTSTRAP_SERVERS": bootstrap_servers}
    return subprocess.run(
        [KETENBUS, "publish", *map(str, files)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def dead_letters(bootstrap_servers: str, since: dict[int, int], **match: str) -> list[Any]:
    """Dead letters written since `since` whose headers match (`reason=...`, `source=...`)."""
    found = []
    for msg in read_range(bootstrap_servers, DEADLETTER_TOPIC, since):
        headers = headers_of(msg)
        if all(headers.get(f"ketenbus.errors.{k}") == v for k, v in match.items()):
            found.append(msg)
    return found


class TestEachAgencyPublishes:
    """Each agency service publishes each allowed type, decodable, keyed and with headers."""

    @pytest.mark.parametrize(("service", "agency", "kind"), PUBLISHES)
    def test_published(
        self,
        clients: dict[str, TestClient],
        bootstrap_servers: str,
        service: str,
        agency: str,
        kind: str,
    ) -> None:
        data = record(agency, kind, N, prefix=f"T{RUN}")
        response = clients[service].post("/records", content=json.dumps(data))
        assert 202 == response.status_code, response.text
        body = response.json()
        msg = read_at(bootstrap_servers, body["topic"], body["partition"], body["offset"])
        decoded = get_codec().decode(msg.value())
        headers = headers_of(msg)
        expected_id = event_id(agency, data["ref"])
        expected = {
            "topic": source_topic(agency),
            "schema": EVENT_TYPES[kind].schema,
            "key": EXPECTED_KEY[kind],
            "event_id": expected_id,
            "ce_id": expected_id,
            "ce_type": f"nl.ketenbus.{kind}.v1",
            "ce_source": f"urn:nld:oin:{OINS[agency]}:systeem:ketenbus-{service}",
            "ce_specversion": "1.0",
            "content-type": "application/avro",
            "agency_ref": (agency, data["ref"]),
        }
        actual = {
            "topic": msg.topic(),
            "schema": decoded.schema,
            "key": msg.key().decode(),
            "event_id": decoded.record["event_id"],
            "ce_id": headers["ce_id"],
            "ce_type": headers["ce_type"],
            "ce_source": headers["ce_source"],
            "ce_specversion": headers["ce_specversion"],
            "content-type": headers["content-type"],
            "agency_ref": (decoded.record["agency"], decoded.record["ref"]),
        }
        assert expected == actual


class TestRefusals:
    """Forbidden types and foreign agencies are refused with 403 and dead-lettered."""

    @pytest.mark.parametrize(("service", "agency", "kind"), FORBIDDEN)
    def test_forbidden_type(
        self,
        clients: dict[str, TestClient],
        bootstrap_servers: str,
        service: str,
        agency: str,
        kind: str,
    ) -> None:
        since = end_offsets(bootstrap_servers, DEADLETTER_TOPIC)
        data = record(agency, kind, N, prefix=f"F{RUN}")
        response = clients[service].post("/records", content=json.dumps(data))
        letters = dead_letters(
            bootstrap_servers, since, source=f"http:{service}", reason="type_not_allowed"
        )
        assert (403, "type_not_allowed", [data["ref"]]) == (
            response.status_code,
            response.json()["reason"],
            [ref for m in letters if (ref := json.loads(m.value())["ref"]) == data["ref"]],
        )

    def test_dead_letter_of_record_with_bsn_is_pseudonymised(
        self, clients: dict[str, TestClient], bootstrap_servers: str
    ) -> None:
        since = end_offsets(bootstrap_servers, DEADLETTER_TOPIC)
        data = record("nau", "inspection", N, prefix=f"P{RUN}")
        clients["nau"].post("/records", content=json.dumps(data))
        [letter] = [
            m
            for m in dead_letters(bootstrap_servers, since, source="http:nau")
            if json.loads(m.value())["ref"] == data["ref"]
        ]
        workers = json.loads(letter.value())["workers"]
        assert ("bsn-pseudonymised", [True, True]) == (
            headers_of(letter)["ketenbus.errors.redacted"],
            [w["bsn"].startswith("pseudonym:") for w in workers],
        )

    def test_dead_letter_headers(
        self, clients: dict[str, TestClient], bootstrap_servers: str
    ) -> None:
        since = end_offsets(bootstrap_servers, DEADLETTER_TOPIC)
        body = json.dumps(record("nla", "admission_revoked", N, prefix=f"H{RUN}")).encode()
        clients["nla"].post("/records", content=body)
        [letter] = [
            m
            for m in dead_letters(bootstrap_servers, since, source="http:nla")
            if m.value() == body
        ]
        headers = headers_of(letter)
        expected = {
            "ketenbus.errors.source": "http:nla",
            "ketenbus.errors.reason": "type_not_allowed",
            "ketenbus.errors.agency": "nla",
            "ketenbus.errors.type": "admission_revoked",
            "__connect.errors.exception.class.name": "intake.errors.TypeNotAllowed",
            "__connect.errors.exception.message": "agency nla may not publish admission_revoked"
            " (allowed: case_action, complaint, inspection, sanction)",
        }
        assert expected == headers

    def test_other_municipality_endpoint(
        self, clients: dict[str, TestClient], bootstrap_servers: str
    ) -> None:
        since = end_offsets(bootstrap_servers, DEADLETTER_TOPIC)
        body = json.dumps(record("gemeente:0599", "complaint", N, prefix=f"M{RUN}")).encode()
        response = clients["gemeente"].post("/agencies/gemeente:0363/records", content=body)
        letters = dead_letters(
            bootstrap_servers, since, reason="agency_mismatch", agency="gemeente:0599"
        )
        assert (403, [body]) == (
            response.status_code,
            [m.value() for m in letters if m.value() == body],
        )

    def test_agency_of_other_client(self, clients: dict[str, TestClient]) -> None:
        response = clients["nla"].post(
            "/records", content=json.dumps(record("politie", "complaint", N))
        )
        assert (403, "agency_not_authorised") == (response.status_code, response.json()["reason"])

    def test_agency_of_other_service(
        self, clients: dict[str, TestClient], settings: Settings
    ) -> None:
        response = clients["nla"].post(
            "/records",
            content=json.dumps(record("politie", "complaint", N)),
            auth=TokenAuth("politie", settings),
        )
        assert (403, "agency_not_served") == (response.status_code, response.json()["reason"])


class TestHttpIntake:
    """202 only after the broker's ack; 4xx with per-field messages otherwise."""

    def test_accepted_is_on_the_broker(
        self, clients: dict[str, TestClient], bootstrap_servers: str
    ) -> None:
        data = record("nla", "complaint", 5, prefix=f"A{RUN}")
        body = clients["nla"].post("/records", content=json.dumps(data)).json()
        msg = read_at(bootstrap_servers, body["topic"], body["partition"], body["offset"])
        assert body["event_id"] == headers_of(msg)["ce_id"]

    def test_malformed_json_400(self, clients: dict[str, TestClient]) -> None:
        response = clients["nla"].post("/records", content=b"{not json")
        assert (400, "malformed", True) == (
            response.status_code,
            response.json()["reason"],
            response.json()["dead_lettered"],
        )

    def test_invalid_fields_422(self, clients: dict[str, TestClient]) -> None:
        data = record("politie", "complaint", 1) | {"landlord_kvk": "12", "naam": "Jan"}
        data["address"]["postcode"] = "ABC"
        response = clients["politie"].post("/records", content=json.dumps(data))
        expected = [
            {
                "field": "address.postcode",
                "message": "invalid postcode: expected 4 digits not"
                " starting with 0 and 2 letters (e.g. 3083AB)",
            },
            {
                "field": "landlord_kvk",
                "message": "invalid KvK number: expected exactly 8 digits",
            },
            {"field": "naam", "message": "Extra inputs are not permitted"},
        ]
        assert (422, expected) == (response.status_code, response.json()["errors"])

    def test_batch_reports_lines(self, clients: dict[str, TestClient]) -> None:
        lines = [
            json.dumps(record("nau", "admission_granted", i, prefix=f"B{RUN}")) for i in (1, 2)
        ]
        body = "\n".join([lines[0], BAD_LINES[0], lines[1]])
        response = clients["nau"].post("/records:batch", content=body)
        payload = response.json()
        assert (207, 2, [2]) == (
            response.status_code,
            payload["published"],
            [r["line"] for r in payload["refused"]],
        )

    def test_health_and_readiness(self, clients: dict[str, TestClient]) -> None:
        client = clients["gemeente"]
        assert (200, 200) == (client.get("/healthz").status_code, client.get("/readyz").status_code)

    def test_not_ready_without_broker(self, settings: Settings) -> None:
        offline = settings.model_copy(update={"bootstrap_servers": "127.0.0.1:1"})
        publisher = build_publisher(["nla"], settings=offline)
        try:
            status = TestClient(create_app(publisher, service="nla")).get("/readyz").status_code
        finally:
            # stop its delivery-report thread (which holds the producers), then drop the
            # Kafka clients: they would log reconnect attempts for the rest of the run
            publisher.close()
            del publisher
            gc.collect()
        assert 503 == status

    def test_metrics(self, clients: dict[str, TestClient]) -> None:
        clients["nla"].post(
            "/records", content=json.dumps(record("nla", "sanction", 2, prefix=f"X{RUN}"))
        )
        text = clients["nla"].get("/metrics").text
        assert 'ketenbus_intake_records_accepted_total{agency="nla",type="sanction"}' in text

    def test_openapi_publishes_strict_contract(self, clients: dict[str, TestClient]) -> None:
        schemas = clients["nau"].get("/openapi.json").json()["components"]["schemas"]
        assert (False, "type") == (
            schemas["ComplaintRecord"]["additionalProperties"],
            schemas["IntakeRecord"]["discriminator"]["propertyName"],
        )


class TestFileImport:
    """`ketenbus publish`: bad lines reported by number, the rest published, ids stable."""

    @pytest.fixture(scope="class")
    def thousand(
        self, bootstrap_servers: str, tmp_path_factory: pytest.TempPathFactory
    ) -> dict[str, Any]:
        agency = fresh_municipality(bootstrap_servers)
        path = tmp_path_factory.mktemp("publish") / f"records-{RUN}.jsonl"
        lines = list(jsonl_lines(1000, agency=agency, bad_every=20, prefix=f"P{RUN}"))
        path.write_text("".join(text + "\n" for text, _ in lines))
        since = end_offsets(bootstrap_servers, DEADLETTER_TOPIC)
        first = run_publish(bootstrap_servers, path)
        first_events = read_range(bootstrap_servers, source_topic(agency))
        second = run_publish(bootstrap_servers, path)
        return {
            "agency": agency,
            "path": path,
            "bad": [n for n, (_, ok) in enumerate(lines, start=1) if not ok],
            "since": since,
            "first": first,
            "second": second,
            "first_events": first_events,
        }

    def test_exit_status_and_summary(self, thousand: dict[str, Any]) -> None:
        first = thousand["first"]
        assert (1, "published 950, rejected 50") == (first.returncode, first.stdout.strip())

    def test_each_bad_line_reported_by_number(self, thousand: dict[str, Any]) -> None:
        reported = [
            int(line.split(": line ", 1)[1].split(":", 1)[0])
            for line in thousand["first"].stderr.splitlines()
            if ": line " in line
        ]
        assert thousand["bad"] == reported

    def test_exactly_950_events(self, thousand: dict[str, Any]) -> None:
        assert 950 == len(thousand["first_events"])

    def test_exactly_50_dead_letters_per_publish(
        self, thousand: dict[str, Any], bootstrap_servers: str
    ) -> None:
        letters = dead_letters(
            bootstrap_servers, thousand["since"], source=f"file:{thousand['path'].name}"
        )
        lines = Counter(int(headers_of(m)["ketenbus.errors.line"]) for m in letters)
        assert ({n: 2 for n in thousand["bad"]}, 100) == (dict(lines), len(letters))

    def test_republish_gives_same_event_ids(
        self, thousand: dict[str, Any], bootstrap_servers: str
    ) -> None:
        everything = read_range(bootstrap_servers, source_topic(thousand["agency"]))
        first_ids = sorted(headers_of(m)["ce_id"] for m in thousand["first_events"])
        ids = Counter(headers_of(m)["ce_id"] for m in everything)
        assert (0, "published 950, rejected 50", 950, {2}) == (
            0 if thousand["second"].returncode == 1 else thousand["second"].returncode,
            thousand["second"].stdout.strip(),
            len(set(first_ids)),
            set(ids.values()),
        )
        assert set(first_ids) == set(ids)

    def test_csv_export(self, bootstrap_servers: str, tmp_path: Path) -> None:
        agency = fresh_municipality(bootstrap_servers)
        cbs = agency.split(":")[1]
        path = tmp_path / "meldingen.csv"
        path.write_text(
            "gemeentecode;meldingnummer;datum_melding;postcode;huisnummer;huisletter;misstanden;anoniem\n"
            f"{cbs};C{RUN}-1;02-05-2026 11:30;3083 ab;12;a;overbewoning|intimidatie;ja\n"
            f"{cbs};C{RUN}-2;02-05-2026 11:45;3083AB;x;;;nee\n"
        )
        result = run_publish(bootstrap_servers, path)
        [event] = read_range(bootstrap_servers, source_topic(agency))
        decoded = get_codec().decode(event.value()).record
        assert (1, "published 1, rejected 1", "3083AB-12-A", ["OVERCROWDING", "INTIMIDATION"]) == (
            result.returncode,
            result.stdout.strip(),
            event.key().decode(),
            decoded["violations"],
        )
        assert (
            f"{path}: line 3: invalid_record: huisnummer: Input should be a valid integer"
            in result.stderr
        )

    def test_missing_file_is_usage_error(self, bootstrap_servers: str, tmp_path: Path) -> None:
        result = run_publish(bootstrap_servers, tmp_path / "nope.jsonl")
        assert (2, f"ketenbus publish: no such file: {tmp_path / 'nope.jsonl'}") == (
            result.returncode,
            result.stderr.strip(),
        )


class TestNoBsnInClear:
    """No BSN reaches any topic in clear: not in events, keys, headers or dead letters."""

    def test_every_topic(
        self, clients: dict[str, TestClient], bootstrap_servers: str, tmp_path: Path
    ) -> None:
        good = [synthetic_bsn(10_000 + i) for i in range(4)]
        stray = synthetic_bsn(20_000)
        inspection = record("nla", "inspection", 3, prefix=f"B{RUN}") | {
            "workers": [{"bsn": good[0]}, {"bsn": good[1]}]
        }
        rejected_with_bsn = record("politie", "inspection", 4, prefix=f"B{RUN}") | {
            "workers": [{"bsn": good[2]}],
            "violations": ["NOT_A_CODE"],  # invalid: refused, BSN in the dead letter
        }
        wrong_field = record("nla", "complaint", 5, prefix=f"B{RUN}") | {
            "burgerservicenummer": stray
        }
        kvk_is_bsn = record("nla", "complaint", 6, prefix=f"B{RUN}") | {"employer_kvk": good[3]}
        path = tmp_path / "bsn.jsonl"
        path.write_text(
            "\n".join(
                [
                    json.dumps(inspection),
                    json.dumps(rejected_with_bsn),
                    json.dumps(wrong_field),
                    json.dumps(kvk_is_bsn),
                    f'{{"broken": "{good[0]}", ',
                ]
            )
            + "\n"
        )
        published = run_publish(bootstrap_servers, path)
        responses = [
            clients["nla"]
            .post("/records", content=json.dumps(inspection | {"ref": f"BH{RUN}"}))
            .status_code,
            clients["politie"].post("/records", content=json.dumps(rejected_with_bsn)).status_code,
            clients["nla"].post("/records", content=json.dumps(kvk_is_bsn)).status_code,
        ]
        admin = AdminClient(client_config(bootstrap_servers=bootstrap_servers))
        topics = sorted(
            t for t in admin.list_topics(timeout=30).topics if t != "__cluster_metadata"
        )
        leaks = {}
        for topic in topics:
            raw = all_bytes(read_range(bootstrap_servers, topic))
            found = [b for b in [*good, stray] if b.encode() in raw]
            if found:
                leaks[topic] = found
        assert ("published 1, rejected 4", [202, 422, 422], {}) == (
            published.stdout.strip(),
            responses,
            leaks,
        )
