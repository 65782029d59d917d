"""`ketenbus subscribe` follows an agency's notification topic on a real broker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient  # type: ignore[attr-defined]
from webhook_receiver import NOTIFICATION, fresh_agency, notification, produce

from correlator.projection import notification_json
from ketenbus.contracts.codec import get_codec
from ketenbus.kafka_clients import client_config

pytestmark = pytest.mark.broker


def subscribe(bootstrap_servers: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ketenbus", "subscribe", *args, "--idle-exit", "2"],
        env={**os.environ, "KETENBUS_BOOTSTRAP_SERVERS": bootstrap_servers},
        capture_output=True,
        text=True,
        timeout=120,
    )


def ids(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert 0 == done.returncode, done.stderr
    return [json.loads(line)["notification_id"] for line in done.stdout.splitlines()]


def groups(bootstrap_servers: str) -> set[str]:
    admin = AdminClient(client_config(bootstrap_servers=bootstrap_servers))
    return {g.group_id for g in admin.list_consumer_groups().result(timeout=30).valid}


class TestSubscribe:
    """subscribe prints decoded notifications from the chosen start and then exits."""

    def test_from_beginning_json(self, bootstrap_servers: str) -> None:
        agency = fresh_agency(bootstrap_servers)
        records = [notification(agency, n) for n in range(1, 6)]
        produce(bootstrap_servers, agency, records)
        before = groups(bootstrap_servers)
        done = subscribe(bootstrap_servers, "--agency", agency, "--from-beginning", "--json")
        assert 0 == done.returncode, done.stderr
        printed = [json.loads(line) for line in done.stdout.splitlines()]
        codec = get_codec()
        decoded = [codec.decode(codec.encode(NOTIFICATION, r)).record for r in records]
        expected = sorted((notification_json(r) for r in decoded), key=lambda n: n["case_id"])
        assert expected == sorted(printed, key=lambda n: n["case_id"])
        assert before == groups(bootstrap_servers)  # no consumer group left behind

    def test_readable_lines_and_max(self, bootstrap_servers: str) -> None:
        agency = fresh_agency(bootstrap_servers)
        produce(bootstrap_servers, agency, [notification(agency, n) for n in range(1, 5)])
        done = subscribe(bootstrap_servers, "--agency", agency, "--from-beginning", "--max", "2")
        assert 0 == done.returncode, done.stderr
        lines = done.stdout.splitlines()
        assert 2 == len(lines)
        assert all("dwelling:3083AB-" in line and " open " in line for line in lines)

    def test_since_and_offset(self, bootstrap_servers: str) -> None:
        agency = fresh_agency(bootstrap_servers)
        old = [notification(agency, n) for n in range(1, 4)]
        produce(bootstrap_servers, agency, old)
        time.sleep(0.1)  # record timestamps are milliseconds: keep the batches apart
        since = datetime.now(UTC).isoformat()
        time.sleep(0.1)
        new = [notification(agency, n) for n in range(4, 7)]
        produce(bootstrap_servers, agency, new)
        after = subscribe(bootstrap_servers, "--agency", agency, "--since", since, "--json")
        assert {r["notification_id"] for r in new} == set(ids(after))
        # offset 0 on every partition = everything; beyond the end = nothing
        everything = subscribe(bootstrap_servers, "--agency", agency, "--offset", "0", "--json")
        assert {r["notification_id"] for r in old + new} == set(ids(everything))
        nothing = subscribe(bootstrap_servers, "--agency", agency, "--offset", "999", "--json")
        assert [] == ids(nothing)

    def test_group_commits_and_resumes(self, bootstrap_servers: str) -> None:
        agency = fresh_agency(bootstrap_servers)
        group = f"{agency.replace(':', '.')}-subscriber"
        first: list[dict[str, Any]] = [notification(agency, n) for n in range(1, 4)]
        produce(bootstrap_servers, agency, first)
        args = ("--agency", agency, "--group", group, "--json")
        done = subscribe(bootstrap_servers, *args, "--from-beginning")
        assert {r["notification_id"] for r in first} == set(ids(done))
        assert group in groups(bootstrap_servers)
        second = [notification(agency, n) for n in range(4, 6)]
        produce(bootstrap_servers, agency, second)
        resumed = subscribe(bootstrap_servers, *args)  # from the group's committed offsets
        assert {r["notification_id"] for r in second} == set(ids(resumed))

    def test_usage_errors(self, bootstrap_servers: str) -> None:
        bad_agency = subscribe(bootstrap_servers, "--agency", "gemeente:59")
        both = subscribe(bootstrap_servers, "--agency", "nla", "--from-beginning", "--offset", "1")
        assert (2, 2) == (bad_agency.returncode, both.returncode)

    def test_missing_topic(self, bootstrap_servers: str) -> None:
        done = subscribe(bootstrap_servers, "--agency", "gemeente:0001")
        assert 3 == done.returncode
        assert "does not exist yet" in done.stderr

    def test_ctrl_c_exits_cleanly(self, bootstrap_servers: str) -> None:
        agency = fresh_agency(bootstrap_servers)
        produce(bootstrap_servers, agency, [notification(agency, 1)])
        follower = subprocess.Popen(
            [sys.executable, "-m", "ketenbus", "subscribe", "--agency", agency, "--from-beginning"],
            env={**os.environ, "KETENBUS_BOOTSTRAP_SERVERS": bootstrap_servers},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # A suite started in the background (`.ci/run &`) ignores SIGINT, and children
            # inherit that: give this one the terminal's default, as a user's shell would.
            preexec_fn=_default_sigint,
        )
        assert follower.stdout is not None
        first = follower.stdout.readline()  # following: the loop is running
        follower.send_signal(signal.SIGINT)
        _, err = follower.communicate(timeout=60)
        assert "dwelling:3083AB-1" in first
        # librdkafka's own lines ("%3|...") may report a connection cut by the close
        ours = [line for line in err.splitlines() if not line.startswith("%")]
        assert (0, []) == (follower.returncode, ours)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
