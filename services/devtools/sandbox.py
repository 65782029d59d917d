"""A throwaway backbone: a fresh embedded broker, the topics of topics.yaml and a
correlator worker, driven through the public `ketenbus` CLI.

End-to-end tests and `ketenbus bench correlate` use it: correlation depends on the
backbone's global clock (rule 6), so they need a broker nobody else publishes to.

Rules: docs/correlation.md#rule-6, docs/correlation.md#rule-8.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from devtools.embedded_kafka import LocalBroker, free_port_block
from ketenbus.settings import get_settings

KETENBUS = [sys.executable, "-m", "ketenbus"]


class Backbone:
    """One broker + correlator under `home`, all addressed through environment variables."""

    def __init__(self, home: Path) -> None:
        settings = get_settings()
        self.home = home
        port = free_port_block(20000 + (os.getpid() % 200) * 40, 2)
        self.broker = LocalBroker(
            port=port,
            home=home,
            version=settings.kafka_version,
            heap=settings.kafka_heap,
            cache_dir=settings.kafka_cache_dir,
        )
        web_port = free_port_block(port + 10, 1)
        self.env = {
            **os.environ,
            "KETENBUS_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
            "KETENBUS_KAFKA_PORT": str(port),
            "KETENBUS_HOME": str(home),
            "KETENBUS_CORRELATOR_PORT": str(web_port),
            "KETENBUS_ENVIRONMENT": "test",
        }
        self.correlator: subprocess.Popen[bytes] | None = None
        self._published = 0

    @property
    def bootstrap_servers(self) -> str:
        return self.env["KETENBUS_BOOTSTRAP_SERVERS"]

    def start(self) -> Backbone:
        self.broker.start()
        self.cli("topics", "apply")
        self.start_correlator()
        return self

    def start_correlator(self, **extra_env: str) -> None:
        log = (self.home / "correlator.log").open("ab")
        self.correlator = subprocess.Popen(
            [sys.executable, "-m", "correlator", "worker", "-l", "warn"],
            env={**self.env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop_correlator(self, sig: int = signal.SIGTERM) -> None:
        if self.correlator is not None:
            self.correlator.send_signal(sig)
            try:
                self.correlator.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.correlator.kill()
                self.correlator.wait()
            self.correlator = None

    def stop(self) -> None:
        self.stop_correlator(signal.SIGKILL)
        self.broker.stop(purge=True)

    def cli(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*KETENBUS, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"ketenbus {' '.join(args)} -> {done.returncode}\n{done.stderr[-3000:]}"
            )
        return done

    def publish(self, records: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
        self._published += 1
        path = self.home / f"publish-{self._published}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        return self.cli("publish", str(path))

    def wait_idle(self, timeout: float = 180) -> None:
        self.cli("wait-idle", "--timeout", str(timeout), timeout=timeout + 30)

    def cases(self) -> dict[str, dict[str, Any]]:
        found = json.loads(self.cli("cases", "--json").stdout)
        return {case["case_id"]: case for case in found}

    def notifications(self, agency: str) -> list[dict[str, Any]]:
        return list(json.loads(self.cli("notifications", "--agency", agency, "--json").stdout))


def public(case: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on arrival order, crashes or rebuilds (rule 8)."""
    keys = (
        "kind",
        "key",
        "status",
        "violations",
        "established",
        "agencies",
        "notified",
        "events",
        "organisations",
        "recidive",
        "lead_agency",
        "opened_at",
        "last_step_at",
    )
    return {key: case[key] for key in keys}
