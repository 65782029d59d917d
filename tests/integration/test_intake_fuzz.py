"""Fuzz: at least 10,000 generated hostile records and bodies (hypothesis) against the real
HTTP intake (a served gemeente service) and `ketenbus publish`.

Planted: BSNs in refs, KvK and address fields, worker lists, unknown keys (as values and
as keys), free text and nested objects, written plain, spaced, dotted, hyphenated, as a
number or a float; bad dates (future, ancient, no zone, garbage); huge strings, numbers
and lists; deep nesting; broken JSON, invalid UTF-8, NaN; other agencies; re-sent refs
with other content; and valid records among them. Every answer is 4xx or 202 (207 for a
mixed batch), never 5xx; the service stays up; every refusal is dead-lettered with its
reason; and a byte scan of every topic, the service log and the CLI output finds none of
the planted BSNs in clear.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from agency_topics_reader import end_offsets, headers_of, read_range
from confluent_kafka.admin import AdminClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from devtools.samples import record, synthetic_bsn
from devtools.service_process import ServiceProcess
from intake.clients import make_token
from ketenbus.agencies import DEADLETTER_TOPIC
from ketenbus.kafka_clients import client_config
from ketenbus.settings import get_settings

pytestmark = [pytest.mark.broker, pytest.mark.timeout(900)]  # the fuzz run is one long test

RUN = uuid.uuid4().hex[:8]
KETENBUS = str(Path(sys.executable).parent / "ketenbus")
AGENCY = "gemeente:0599"
#: Planted BSNs: elfproef-valid, from a range no other test uses.
PLANTED = [synthetic_bsn(700_000 + i) for i in range(24)]
BATCHES = 110  # x up to 100 records each, plus single bodies, plus the publish file
BATCH_SIZE = (60, 100)
STATS: Counter[str] = Counter()


def _clear_pattern(bsn: str) -> re.Pattern[bytes]:
    """The BSN in clear: its 9 digits, each pair at most one separator apart, not part of
    a longer digit run."""
    return re.compile(
        rb"(?<![0-9])" + rb"[ .\-_/,:]?".join(d.encode() for d in bsn) + rb"(?![0-9])"
    )


CLEAR = [_clear_pattern(b) for b in PLANTED]


def leaks(data: bytes) -> list[str]:
    return [bsn for bsn, pattern in zip(PLANTED, CLEAR, strict=True) if pattern.search(data)]


# -- strategies --------------------------------------------------------------------

bsns = st.sampled_from(PLANTED)


@st.composite
def bsn_forms(draw: st.DrawFn) -> Any:
    bsn = draw(bsns)
    form = draw(st.integers(0, 7))
    if form == 0:
        return bsn
    if form == 1:
        return f"{bsn[:3]} {bsn[3:6]} {bsn[6:]}"
    if form == 2:
        return f"{bsn[:4]}.{bsn[4:6]}.{bsn[6:]}"
    if form == 3:
        return f"{bsn[:3]}-{bsn[3:6]}-{bsn[6:]}"
    if form == 4:
        return int(bsn)
    if form == 5:
        return float(bsn)
    if form == 6:
        return f"BSN {bsn} van Jan de Vries"
    return f"{draw(st.sampled_from(['ref-', 'X/', 'D:']))}{bsn}"


junk_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
names = st.sampled_from(["Jan de Vries", "Fatima El Amrani", "Piotr Kowalski", "Ana Pop"])
bad_dates = st.sampled_from(
    [
        "2099-01-01T00:00:00Z",
        "1900-01-01T00:00:00Z",
        "1999-12-31T23:59:59+01:00",
        "2026-05-02T09:30:00",
        "not a date",
        "2026-13-45T25:61:00Z",
        "",
        "9999-12-31T23:59:59Z",
    ]
)
huge_numbers = st.sampled_from(
    [2**31, 2**63, 10**30, -(2**40), 1e308, -1e308, 1e-308, 123456789012345678901234567890]
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), junk_text, bsn_forms()
)


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value] if depth % 2 else {"n": value}
    return value


FIELDS = [
    "ref",
    "landlord_kvk",
    "employer_kvk",
    "staffing_agency_kvk",
    "target_kvk",
    "occurred_at",
    "agency",
    "type",
    "violations",
    "anonymous",
    "occupants_found",
    "amount_eur",
    "reason",
    "sanction_type",
    "address",
]


@st.composite
def hostile_record(draw: st.DrawFn) -> tuple[str, bytes]:
    """(what was done, the record's bytes)."""
    kind = draw(st.sampled_from(["complaint", "inspection", "sanction", "case_action"]))
    n = draw(st.integers(0, 10_000))
    data: dict[str, Any] = record(AGENCY, kind, n, prefix=f"Z{RUN}")
    if kind == "inspection":
        data["workers"] = [{"bsn": b} for b in draw(st.lists(bsns, max_size=3))]
    attack = draw(
        st.sampled_from(
            [
                "valid",
                "bsn_in_field",
                "bsn_in_ref",
                "bsn_as_key",
                "bsn_in_workers",
                "name_in_unknown",
                "unknown_nested",
                "free_text",
                "bad_date",
                "huge_number",
                "huge_string",
                "huge_list",
                "deep",
                "wrong_type",
                "other_agency",
                "conflict",
                "broken_json",
                "invalid_utf8",
                "nan",
                "not_object",
            ]
        )
    )
    STATS[attack] += 1
    if attack == "bsn_in_field":
        data[draw(st.sampled_from(FIELDS))] = draw(bsn_forms())
    elif attack == "bsn_in_ref":
        data["ref"] = str(draw(bsn_forms())).replace(" ", "")
    elif attack == "bsn_as_key":
        data[draw(bsns)] = draw(scalars)
    elif attack == "bsn_in_workers":
        data["workers"] = [{"bsn": draw(bsn_forms())}, {"burgerservicenummer": draw(bsns)}]
    elif attack == "name_in_unknown":
        data[draw(st.sampled_from(["naam", "name", "bewoner", "Naam Huurder"]))] = draw(names)
    elif attack == "unknown_nested":
        data["extra"] = {"persoon": {"bsn": draw(bsn_forms()), "naam": draw(names)}}
    elif attack == "free_text":
        data = record("nau", "admission_revoked", n, prefix=f"Z{RUN}")
        data["reason"] = f"{draw(names)} ({draw(bsn_forms())})"
    elif attack == "bad_date":
        data["occurred_at"] = draw(bad_dates)
    elif attack == "huge_number":
        data[draw(st.sampled_from(["occupants_found", "amount_eur", "address"]))] = draw(
            huge_numbers
        )
        if "address" in data and not isinstance(data["address"], dict):
            data["address"] = {"postcode": "3083AB", "house_number": draw(huge_numbers)}
    elif attack == "huge_string":
        data[draw(st.sampled_from(FIELDS))] = "Jan " * draw(st.integers(1_000, 20_000))
    elif attack == "huge_list":
        data["violations"] = ["OVERCROWDING"] * draw(st.integers(33, 3_000))
    elif attack == "deep":
        data["address"] = nested(draw(st.integers(5, 200)))
    elif attack == "wrong_type":
        data[draw(st.sampled_from(FIELDS))] = draw(scalars)
    elif attack == "other_agency":
        data = record(
            draw(st.sampled_from(["gemeente:0363", "nla", "politie", "gemeente:9999"])),
            kind,
            n,
            prefix=f"Z{RUN}",
        )
    elif attack == "conflict":
        data["ref"] = f"Z{RUN}-fixed-{n % 5}"
        data["violations"] = draw(
            st.lists(st.sampled_from(["OVERCROWDING", "INTIMIDATION", "UNSAFE_DWELLING"]))
        )
    text = json.dumps(data).encode()
    if attack == "broken_json":
        cut = draw(st.integers(0, max(len(text) - 1, 0)))
        text = text[:cut] + draw(st.sampled_from([b"", b"}", b"{", b'"', b"\\"]))
        text += str(draw(bsn_forms())).encode()
    elif attack == "invalid_utf8":
        text = text.replace(b'"ref": "', b'"ref": "\xff\xfe' + draw(bsns).encode(), 1)
    elif attack == "nan":
        text = text[:-1] + b', "amount_eur": ' + draw(st.sampled_from([b"NaN", b"Infinity"])) + b"}"
    elif attack == "not_object":
        text = json.dumps([draw(bsn_forms()), draw(names)]).encode()
    return attack, text


# -- the run -------------------------------------------------------------------------


class Ledger:
    """What was sent and what came back."""

    def __init__(self) -> None:
        self.records = 0
        self.bodies = 0
        self.statuses: Counter[int] = Counter()
        self.accepted = 0
        self.refused = 0
        self.refused_without_reason = 0
        self.unanswered = 0
        self.publish_lines: list[bytes] = []


@pytest.fixture(scope="module")
def live(
    bootstrap_servers: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    get_settings.cache_clear()
    workdir = tmp_path_factory.mktemp("fuzz")
    service = ServiceProcess("gemeente", bootstrap_servers, workdir / "gemeente.log")
    try:
        service.wait_ready()
        yield {
            "service": service,
            "settings": get_settings(),
            "workdir": workdir,
            "since": end_offsets(bootstrap_servers, DEADLETTER_TOPIC),
            "ledger": Ledger(),
        }
    finally:
        service.stop()


def _check_batch(ledger: Ledger, response: httpx.Response, lines: int) -> None:
    ledger.statuses[response.status_code] += 1
    body = response.json()
    accepted = body.get("accepted", [])
    refused = body.get("refused", [])
    ledger.accepted += len(accepted)
    ledger.refused += len(refused)
    ledger.refused_without_reason += sum(1 for r in refused if not r.get("reason"))
    ledger.unanswered += lines - len(accepted) - len(refused)


class TestLeakScan:
    """The byte scan finds a planted BSN in every form it is written in clear."""

    @pytest.mark.parametrize(
        "form",
        ["plain", "spaced", "dotted", "hyphenated", "in text"],
    )
    def test_finds(self, form: str) -> None:
        b = PLANTED[0]
        text = {
            "plain": b,
            "spaced": f"{b[:3]} {b[3:6]} {b[6:]}",
            "dotted": f"{b[:4]}.{b[4:6]}.{b[6:]}",
            "hyphenated": f"{b[:3]}-{b[3:6]}-{b[6:]}",
            "in text": f'{{"note": "bsn:{b}"}}',
        }[form]
        assert [b] == leaks(text.encode())

    def test_ignores_longer_digit_runs(self) -> None:
        assert [] == leaks(f"1{PLANTED[0]}2".encode())


class TestFuzz:
    """Hostile input is contained: 4xx or 202, never 5xx, dead-lettered, no BSN in clear."""

    @hypothesis_settings(
        max_examples=BATCHES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        batch=st.lists(hostile_record(), min_size=BATCH_SIZE[0], max_size=BATCH_SIZE[1]),
        singles=st.integers(0, 3),
    )
    def test_a_hostile_bodies(
        self, live: dict[str, Any], batch: list[tuple[str, bytes]], singles: int
    ) -> None:
        ledger: Ledger = live["ledger"]
        service: ServiceProcess = live["service"]
        token = make_token(AGENCY, live["settings"])
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=service.url, timeout=120, headers=headers) as http:
            body = b"\n".join(text.replace(b"\n", b" ") for _, text in batch)
            response = http.post("/records:batch", content=body)
            ledger.bodies += 1
            ledger.records += len(batch)
            assert response.status_code < 500, response.text[:300]
            _check_batch(ledger, response, len(batch))
            for _, text in batch[:singles]:
                single = http.post("/records", content=text)
                ledger.bodies += 1
                ledger.records += 1
                ledger.statuses[single.status_code] += 1
                assert single.status_code < 500, single.text[:300]
                if single.status_code == 202:
                    ledger.accepted += 1
                else:
                    ledger.refused += 1
                    ledger.refused_without_reason += not single.json().get("reason")
        ledger.publish_lines.extend(text for _, text in batch[: len(batch) // 4])

    def test_b_oversized_bodies(self, live: dict[str, Any]) -> None:
        ledger: Ledger = live["ledger"]
        service: ServiceProcess = live["service"]
        token = make_token(AGENCY, live["settings"])
        with httpx.Client(base_url=service.url, timeout=120) as http:
            statuses = []
            for size in (70_000, 1_000_000, 20_000_000):
                try:
                    response = http.post(
                        "/records",
                        content=b'{"ref": "' + b"9" * size + b'"}',
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    statuses.append(response.status_code)
                except httpx.TransportError:  # answered 413 and closed while we still sent
                    statuses.append(413)
                ledger.bodies += 1
                ledger.records += 1
                ledger.refused += 1
        ledger.statuses.update(statuses)
        assert [413, 413, 413] == statuses

    def test_c_publish(self, live: dict[str, Any]) -> None:
        ledger: Ledger = live["ledger"]
        path = live["workdir"] / f"fuzz-{RUN}.jsonl"
        lines = [line.replace(b"\n", b" ") for line in ledger.publish_lines]
        path.write_bytes(b"\n".join(lines) + b"\n")
        result = subprocess.run(
            [KETENBUS, "publish", str(path)],
            capture_output=True,
            env=os.environ.copy(),
            timeout=600,
        )
        summary = result.stdout.decode().strip()
        found = re.fullmatch(r"published (\d+), rejected (\d+)", summary)
        live["publish"] = {"result": result, "path": path}
        assert (True, b"Traceback" in result.stderr, result.returncode in (0, 1)) == (
            found is not None,
            False,
            True,
        ), result.stderr[-2000:]
        assert found is not None
        ledger.records += len(lines)
        ledger.accepted += int(found.group(1))
        ledger.refused += int(found.group(2))
        live["publish_refused"] = int(found.group(2))

    def test_d_answers(self, live: dict[str, Any]) -> None:
        ledger: Ledger = live["ledger"]
        statuses = set(ledger.statuses)
        print(
            f"\nfuzz: {ledger.records} records in {ledger.bodies} HTTP bodies + 1 publish file;"
            f" accepted {ledger.accepted}, refused {ledger.refused}; statuses"
            f" {dict(sorted(ledger.statuses.items()))}; attacks {dict(sorted(STATS.items()))}"
        )
        assert (True, set(), 0, 0, True) == (
            ledger.records >= 10_000,
            {s for s in statuses if s >= 500 or s < 200},
            ledger.refused_without_reason,
            ledger.unanswered,
            live["service"].alive,
        )
        assert 200 == httpx.get(f"{live['service'].url}/healthz", timeout=10).status_code

    def test_e_every_refusal_dead_lettered(
        self, live: dict[str, Any], bootstrap_servers: str
    ) -> None:
        ledger: Ledger = live["ledger"]
        letters = read_range(bootstrap_servers, DEADLETTER_TOPIC, live["since"])
        sources = {f"file:{live['publish']['path'].name}", "http:gemeente"}
        ours = [m for m in letters if headers_of(m).get("ketenbus.errors.source") in sources]
        without_reason = [m for m in ours if not headers_of(m).get("ketenbus.errors.reason")]
        assert (ledger.refused, 0) == (len(ours), len(without_reason))

    def test_f_no_bsn_in_clear(self, live: dict[str, Any], bootstrap_servers: str) -> None:
        admin = AdminClient(client_config(bootstrap_servers=bootstrap_servers))
        topics = sorted(
            t for t in admin.list_topics(timeout=30).topics if t != "__cluster_metadata"
        )
        found: dict[str, list[str]] = {}
        for topic in topics:
            for message in read_range(bootstrap_servers, topic):
                parts = [message.value() or b"", message.key() or b""]
                parts += [v or b"" for _, v in message.headers() or []]
                hits = leaks(b"\n".join(parts))
                if hits:
                    found.setdefault(topic, []).extend(hits)
        result = live["publish"]["result"]
        for name, data in (
            ("service log", live["service"].log.read_bytes()),
            ("publish stdout", result.stdout),
            ("publish stderr", result.stderr),
        ):
            if hits := leaks(data):
                found[name] = hits
        assert {} == found
