"""A throwaway backbone: a fresh embedded broker, the topics of topics.yaml and a
correlator worker, driven through the public `ketenbus` CLI.

End-to-end tests and `ketenbus bench correlate` use it: correlation depends on the
backbone's global clock (rule 6), so they need a broker nobody else publishes to.

Rules: docs/correlation.md#rule-6, docs/correlation.md#rule-8.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from devtools.embedded_kafka import KafkaOptions, LocalBroker, LocalCluster, free_port_block
from devtools.keeper import current_child
from ketenbus.settings import Settings, get_settings

KETENBUS = [sys.executable, "-m", "ketenbus"]


class Backbone:
    """One broker (or a 3-node quorum) + correlator workers under `home`, all addressed
    through environment variables.

    Worker n runs with KETENBUS_CORRELATOR_WORKER=n (its own data directory) on web port
    `web_port + n - 1`; `correlator` is worker 1, as before there were several.
    `supervised=True` runs each worker under a keeper, as `ketenbus up` does: restarted
    when it exits or its `/healthz` turns 503 (`kill_worker` then signals the worker only).
    """

    def __init__(
        self, home: Path, *, cluster: bool = False, max_workers: int = 3, supervised: bool = False
    ) -> None:
        settings = get_settings()
        self.home = home
        self.supervised = supervised
        self.web_port = 0
        self.broker: LocalBroker | LocalCluster
        # the settings' Kafka runtime; secrets and topics file: this home's defaults
        options = KafkaOptions(
            home=home,
            version=settings.kafka_version,
            heap=settings.kafka_heap,
            cache_dir=settings.kafka_cache_dir,
        )
        if cluster:
            port = free_port_block(20000 + (os.getpid() % 200) * 40, 6)
            options["start_timeout"] = settings.kafka_start_timeout
            self.broker = LocalCluster(base_port=port, **options)
            bootstrap = self.broker.bootstrap_servers
            web_port = free_port_block(port + 10, max_workers)
        else:
            port = free_port_block(20000 + (os.getpid() % 200) * 40, 2)
            self.broker = LocalBroker(port=port, **options)
            bootstrap = f"127.0.0.1:{port}"
            web_port = free_port_block(port + 10, max_workers)
        self.web_port = web_port
        self.env = {
            **os.environ,
            "KETENBUS_BOOTSTRAP_SERVERS": bootstrap,
            "KETENBUS_KAFKA_PORT": str(port),
            "KETENBUS_HOME": str(home),
            # this backbone's own broker, CA and credentials; the CLI acts as its admin
            "KETENBUS_KAFKA_SECRETS_DIR": str(self.broker.secrets_dir),
            "KETENBUS_KAFKA_PRINCIPAL": "admin",
            "KETENBUS_CORRELATOR_PORT": str(web_port),
            "KETENBUS_ENVIRONMENT": "test",
        }
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self._published = 0

    @property
    def correlator(self) -> subprocess.Popen[bytes] | None:
        """Worker 1."""
        return self.workers.get(1)

    @property
    def bootstrap_servers(self) -> str:
        return self.env["KETENBUS_BOOTSTRAP_SERVERS"]

    @property
    def client_settings(self) -> Settings:
        """Settings of an admin client of this backbone's broker (its own secrets)."""
        return self.broker.client_settings

    def start(self) -> Backbone:
        self.broker.start()
        self.cli("topics", "apply")
        self.start_correlator()
        return self

    def start_correlator(self, worker: int = 1, **extra_env: str) -> subprocess.Popen[bytes]:
        """Start worker `worker` (its own data directory and web port); under a keeper of
        its own process group when the backbone is supervised."""
        name = "correlator.log" if worker == 1 else f"correlator-{worker}.log"
        level = get_settings().correlator_worker_log_level  # KETENBUS_CORRELATOR_WORKER_LOG_LEVEL
        port = self.web_port + worker - 1
        command = [sys.executable, "-m", "correlator", "worker", "-l", level]
        if self.supervised:
            keeper = [sys.executable, "-m", "devtools.keeper", "--name", f"correlator-{worker}"]
            command = [*keeper, "--health-url", f"http://127.0.0.1:{port}/healthz", "--", *command]
        with (self.home / name).open("ab") as log:
            process = subprocess.Popen(
                command,
                env={
                    **self.env,
                    # as in `ketenbus up`: the correlator's own principal, held to its ACLs
                    "KETENBUS_KAFKA_PRINCIPAL": "ketenbus-correlator",
                    "KETENBUS_CORRELATOR_WORKER": str(worker),
                    "KETENBUS_CORRELATOR_PORT": str(port),
                    **extra_env,
                },
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.supervised,  # the keeper and its worker: one group
            )
        self.workers[worker] = process
        return process

    def worker_pid(self, worker: int) -> int | None:
        """The pid of worker `worker` itself (a keeper's current child when supervised)."""
        process = self.workers.get(worker)
        if process is None or process.poll() is not None:
            return None
        return current_child(process.pid) if self.supervised else process.pid

    def kill_worker(self, worker: int, sig: int = signal.SIGKILL) -> int:
        """Signal the worker process only, and wait until it is gone; a supervised worker
        is then started again by its keeper. Returns the pid signalled."""
        deadline = time.monotonic() + 60
        pid = self.worker_pid(worker)
        while pid is None and time.monotonic() < deadline:  # its keeper is restarting it
            time.sleep(0.5)
            pid = self.worker_pid(worker)
        if pid is None:
            raise AssertionError(f"worker {worker} has no running process to signal")
        os.kill(pid, sig)
        if not self.supervised:
            self.workers.pop(worker).wait(timeout=60)
            return pid
        while time.monotonic() < deadline + 60:
            try:  # a zombie until its keeper reaps it: that is gone too
                stat = Path(f"/proc/{pid}/stat").read_text(errors="replace")
            except OSError:  # reaped
                break
            if stat.rsplit(")", 1)[-1].split()[0] == "Z":
                break
            time.sleep(0.2)
        return pid

    def wait_restarted(self, worker: int, old: int, timeout: float = 120) -> int:
        """The pid of the new process of a supervised worker once its keeper started it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.worker_pid(worker)
            if pid is not None and pid != old:
                return pid
            time.sleep(0.5)
        raise AssertionError(f"the keeper of worker {worker} did not start it again")

    def stop_correlator(self, sig: int = signal.SIGTERM, worker: int = 1) -> None:
        process = self.workers.pop(worker, None)
        if process is None:
            return
        if self.supervised:  # the keeper and its worker
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if self.supervised:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # a worker its keeper left behind

    def stop(self) -> None:
        for worker in list(self.workers):
            self.stop_correlator(signal.SIGKILL, worker)
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
        done = self.cli("wait-idle", "--timeout", str(timeout), check=False, timeout=timeout + 30)
        if done.returncode != 0:
            # its verdict (the last line), then what the workers said: that tells a slow
            # start from a crash or a stuck group
            verdict = done.stderr.strip().splitlines()[-1:] or ["(nothing on stderr)"]
            raise AssertionError(
                f"ketenbus wait-idle -> {done.returncode}: {verdict[0]}\n{self.worker_logs()}"
            )

    def worker_logs(self, lines: int = 40) -> str:
        """The last `lines` lines of each worker's log, and how each worker process is."""
        parts = []
        for log in sorted(self.home.glob("correlator*.log")):
            worker = 1 if log.stem == "correlator" else int(log.stem.rsplit("-", 1)[-1])
            process = self.workers.get(worker)
            code = None if process is None else process.poll()
            state = "stopped" if process is None else "running" if code is None else f"exit {code}"
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name} (worker {worker}: {state}) ---\n" + "\n".join(tail))
        return "\n".join(parts) or "(no worker logs)"

    def cases(self) -> dict[str, dict[str, Any]]:
        found = json.loads(self.cli("cases", "--json").stdout)
        return {case["case_id"]: case for case in found}

    def source_record_count(self) -> int:
        """Records on the agency source topics (`events.*`): what the brokers acknowledged."""
        from confluent_kafka import Consumer, TopicPartition

        from ketenbus.agencies import SOURCE_TOPIC_PATTERN
        from ketenbus.kafka_clients import client_config

        pattern = re.compile(SOURCE_TOPIC_PATTERN.lstrip("^"))
        # this backbone's own admin credentials and CA (not the caller's KETENBUS_HOME)
        consumer = Consumer(client_config(self.client_settings, group_id="ketenbus-sandbox-count"))
        try:
            total = 0
            for name, topic in consumer.list_topics(timeout=30).topics.items():
                if not pattern.fullmatch(name):
                    continue
                for partition in topic.partitions:
                    low, high = consumer.get_watermark_offsets(
                        TopicPartition(name, partition), timeout=30
                    )
                    total += high - low
            return total
        finally:
            consumer.close()

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
