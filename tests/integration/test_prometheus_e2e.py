"""A real Prometheus (Debian's package, `make install`) scrapes the lag monitor, a
correlator worker and an agency service; a consumer that stops consuming fires the
stalled-group alert, and once it leaves the group the stopped-group alert. The Grafana
dashboard queries only metric names these exporters really expose.

The rules are deploy/prometheus/alerts.yml with every `for:` shortened to 2s (the
promtool unit tests check the real durations); the lag monitor samples every second over
a window of 3.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from devtools.embedded_kafka import free_port_block, port_accepts
from devtools.sandbox import Backbone
from ketenbus.kafka_clients import client_config
from ketenbus.settings import PROJECT_ROOT, get_settings

pytestmark = [pytest.mark.broker, pytest.mark.timeout(600)]

DEPLOY = PROJECT_ROOT / "deploy"
METRIC_NAME = re.compile(r"\bketenbus_[a-z0-9_]+")


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
        return body


def wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(1.0)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


class Stack:
    """A backbone (broker + correlator worker) plus the lag monitor, the nla service and
    Prometheus, each on its own free port, everything under one tmp home."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.backbone = Backbone(home).start()
        base = free_port_block(self.backbone.web_port + 5, 3)
        self.lagmonitor_port, self.nla_port, self.prometheus_port = base, base + 1, base + 2
        self.env = {
            **self.backbone.env,
            "KETENBUS_LAGMONITOR_PORT": str(self.lagmonitor_port),
            "KETENBUS_LAGMONITOR_INTERVAL_SECONDS": "1",
            "KETENBUS_LAGMONITOR_WINDOW": "3",
            "KETENBUS_NLA_PORT": str(self.nla_port),
        }
        self.processes: list[subprocess.Popen[bytes]] = []
        self.spawn("lagmonitor", [sys.executable, "-m", "operations.lagmonitor"])
        self.spawn("nla", [sys.executable, "-m", "agencies.nla", "--port", str(self.nla_port)])
        self.spawn("prometheus", self.prometheus_command())
        for port in (self.lagmonitor_port, self.nla_port, self.prometheus_port):
            wait_for(lambda port=port: port_accepts(port), 120, f"port {port}")
        wait_for(self.correlator_ready, 180, "the correlator's /metrics")

    def correlator_ready(self) -> bool:
        return bool(get(f"http://127.0.0.1:{self.backbone.web_port}/metrics"))

    def spawn(self, name: str, command: list[str]) -> None:
        with (self.home / f"{name}.log").open("ab") as log:
            self.processes.append(
                subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
            )

    def prometheus_command(self) -> list[str]:
        rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
        for group in rules["groups"]:
            for rule in group["rules"]:
                rule["for"] = "2s"
        (self.home / "alerts.yml").write_text(yaml.safe_dump(rules))
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["alerts.yml"],
            "scrape_configs": [
                {"job_name": name, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
                for name, port in (
                    ("lagmonitor", self.lagmonitor_port),
                    ("correlator", self.backbone.web_port),
                    ("intake", self.nla_port),
                )
            ],
        }
        (self.home / "prometheus.yml").write_text(yaml.safe_dump(config))
        tool = shutil.which("prometheus")
        assert tool is not None, "prometheus missing: `make install` installs Debian's package"
        return [
            tool,
            f"--config.file={self.home / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.home / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
        ]

    def query(self, path: str) -> Any:
        return json.loads(get(f"http://127.0.0.1:{self.prometheus_port}{path}"))["data"]

    def firing(self, alert: str, group: str) -> bool:
        return any(
            a["labels"].get("alertname") == alert
            and a["labels"].get("group") == group
            and a["state"] == "firing"
            for a in self.query("/api/v1/alerts")["alerts"]
        )

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        self.backbone.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(Path(tmp_path_factory.mktemp("prometheus")))
    try:
        yield running
    finally:
        running.stop()


def exposed_names(stack: Stack) -> set[str]:
    """Every ketenbus_ metric name the three exporters expose (HELP/TYPE lines included:
    a labelled counter that has not counted yet exposes those only)."""
    names: set[str] = set()
    for port in (stack.lagmonitor_port, stack.backbone.web_port, stack.nla_port):
        names |= set(METRIC_NAME.findall(get(f"http://127.0.0.1:{port}/metrics").decode()))
    suffixes = ("_total", "_bucket", "_sum", "_count")
    return names | {name + suffix for name in names for suffix in suffixes}


class TestScrapes:
    """Prometheus scrapes every exporter successfully."""

    def test_every_target_up(self, stack: Stack) -> None:
        def all_up() -> dict[str, str] | None:
            targets = stack.query("/api/v1/targets")["activeTargets"]
            health = {t["labels"]["job"]: t["health"] for t in targets}
            return health if set(health.values()) == {"up"} and len(health) == 3 else None

        health = wait_for(all_up, 60, "every target up")
        assert {"lagmonitor": "up", "correlator": "up", "intake": "up"} == health


class TestDashboardMetrics:
    """Every metric the Grafana dashboard queries is exposed by one of our exporters."""

    def test_dashboard_names_exposed(self, stack: Stack) -> None:
        text = (DEPLOY / "grafana" / "ketenbus.json").read_text()
        used = set(METRIC_NAME.findall(text))
        assert set() == used - exposed_names(stack)


class TestStalledConsumerAlert:
    """A member that stops consuming while records arrive fires KetenbusConsumerGroupStalled;
    once it leaves the group, KetenbusConsumerGroupStopped fires."""

    def test_stalled_then_stopped(self, stack: Stack) -> None:
        settings = get_settings().model_copy(
            update={"bootstrap_servers": stack.backbone.bootstrap_servers}
        )
        topic, group = f"test.stall.{uuid.uuid4().hex[:8]}", f"stall-{uuid.uuid4().hex[:8]}"
        admin = AdminClient(client_config(settings))
        admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
        producer = Producer(client_config(settings))
        consumer = Consumer(
            client_config(
                settings, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
            )
        )
        try:
            for i in range(3):
                producer.produce(topic, value=f"r{i}".encode())
            producer.flush(30)
            consumer.subscribe([topic])
            consumed = 0
            while consumed < 3:  # catch up and commit: lag 0
                message = consumer.poll(1.0)
                if message is not None and message.error() is None:
                    consumed += 1
            consumer.commit(asynchronous=False)
            # it stays a member (librdkafka heartbeats in the background) but consumes no more
            for i in range(5):
                producer.produce(topic, value=f"late{i}".encode())
            producer.flush(30)
            stalled = wait_for(
                lambda: stack.firing("KetenbusConsumerGroupStalled", group), 120, "stalled alert"
            )
        finally:
            consumer.close()
        stopped = wait_for(
            lambda: stack.firing("KetenbusConsumerGroupStopped", group), 120, "stopped alert"
        )
        assert (True, True) == (stalled, stopped)
