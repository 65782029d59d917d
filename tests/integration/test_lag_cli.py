"""`ketenbus lag` never claims what it cannot know: one-shot it prints the running lag
monitor's evaluated status; without a monitor, a lagging partition that one sample cannot
judge is UNKNOWN (exit 4), never OK."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_lagmonitor import GroupMember, new_group, produce

from devtools.embedded_kafka import free_port_block

pytestmark = pytest.mark.broker

KETENBUS = str(Path(sys.executable).parent / "ketenbus")


def lag(env: dict[str, str], group: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [KETENBUS, "lag", "-g", group, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, json.loads(done.stdout)


@pytest.fixture
def stuck_group(bootstrap_servers: str, unique_topic: str) -> Iterator[str]:
    """A group whose only member caught up, then stopped consuming while 4 records came."""
    group = new_group()
    produce(bootstrap_servers, unique_topic, {0: 2})
    member = GroupMember(bootstrap_servers, group, unique_topic)
    try:
        member.catch_up()
        produce(bootstrap_servers, unique_topic, {0: 4})
        yield group
    finally:
        member.consumer.close()


class TestWithoutMonitor:
    """No lag monitor answers: one sample of a lagging, consumed partition is UNKNOWN."""

    def test_unknown(self, stuck_group: str) -> None:
        nowhere = free_port_block(45000 + os.getpid() % 1000, 1)
        env = {**os.environ, "KETENBUS_LAGMONITOR_URL": f"http://127.0.0.1:{nowhere}"}
        code, report = lag(env, stuck_group)
        assert (4, "sampled", "UNKNOWN", 4) == (
            code,
            report["source"],
            report["status"],
            report["groups"][0]["lag"],
        )


class TestWithMonitor:
    """A running lag monitor's evaluated status is what `ketenbus lag` prints: STALLED
    once its window saw the member not move (exit 2)."""

    def test_reads_the_monitor(self, stuck_group: str, tmp_path: Path) -> None:
        port = free_port_block(45500 + os.getpid() % 1000, 1)
        env = {
            **os.environ,
            "KETENBUS_LAGMONITOR_PORT": str(port),
            "KETENBUS_LAGMONITOR_INTERVAL_SECONDS": "1",
            "KETENBUS_LAGMONITOR_WINDOW": "3",
            "KETENBUS_LAGMONITOR_URL": f"http://127.0.0.1:{port}",
        }
        with (tmp_path / "lagmonitor.log").open("ab") as log:
            monitor = subprocess.Popen(
                [sys.executable, "-m", "operations.lagmonitor"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 90
            status = None
            while time.monotonic() < deadline and status != "STALLED":
                time.sleep(1)
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status") as response:
                        document = json.loads(response.read())
                except OSError:
                    continue
                group = [g for g in document["groups"] if g["group"] == stuck_group]
                status = group[0]["status"] if group else None
            code, report = lag(env, stuck_group)
        finally:
            monitor.send_signal(signal.SIGTERM)
            monitor.wait(timeout=30)
        assert (2, "lagmonitor", 3, "STALLED") == (
            code,
            report["source"],
            report["window_size"],
            report["groups"][0]["status"],
        )
