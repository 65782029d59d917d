"""The embedded single-node broker's lifecycle: up, status, down --purge, stale pid files.

These brokers run on their own ports (the first free pair above KETENBUS_KAFKA_PORT + 2) and
in their own home, so they never touch the session broker other tests use.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # no __all__ there
    AdminClient,
    ConfigResource,
    ResourceType,
)

from devtools.embedded_kafka import (
    CredentialsRefused,
    LocalBroker,
    broker_answers,
    free_port_block,
    port_accepts,
    port_free,
)
from ketenbus.kafka_clients import client_config
from ketenbus.settings import get_settings

pytestmark = pytest.mark.broker

KETENBUS = Path(sys.executable).parent / "ketenbus"


def _broker(home: Path, port: int) -> LocalBroker:
    settings = get_settings()
    return LocalBroker(
        port=port,
        home=home,
        version=settings.kafka_version,
        heap=settings.kafka_heap,
        cache_dir=settings.kafka_cache_dir,
        start_timeout=settings.kafka_start_timeout,
    )


def _jvm_pids_using(path: Path) -> list[int]:
    """Pids of processes whose command line mentions `path` (our broker's properties)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(path) in cmdline:
                found.append(int(entry.name))
    return found


def _cli(home: Path, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KETENBUS_HOME": str(home),
        "KETENBUS_KAFKA_PORT": str(port),
        "KETENBUS_KAFKA_SECRETS_DIR": str(home / "secrets"),
    }
    return subprocess.run(
        [str(KETENBUS), "kafka", *args], env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A broker of this module's own, started once."""
    port = free_port_block(get_settings().kafka_port + 2, 2)
    broker = _broker(tmp_path_factory.mktemp("kafka-local-home"), port)
    broker.start()
    yield broker
    broker.stop(purge=True)


class TestUp:
    """`up` starts a broker that answers metadata requests, and `up` again changes nothing."""

    def test_broker_answers(self, running: LocalBroker) -> None:
        assert broker_answers(running.bootstrap_servers, settings=running.client_settings)

    def test_up_twice_is_a_noop(self, running: LocalBroker) -> None:
        before = running.status().pid
        running.start()
        assert before == running.status().pid

    def test_cli_up_on_a_running_broker_is_a_noop(self, running: LocalBroker) -> None:
        before = running.status().pid
        result = _cli(running.root.parent, running.node.config.port, "up")
        assert 0 == result.returncode, result.stderr
        assert "already running" in result.stdout
        assert before == running.status().pid

    def test_broker_logs_reach_the_log_file(self, running: LocalBroker) -> None:
        log = running.status().log_file.read_text()
        assert "Kafka Server started" in log

    def test_topics_are_not_auto_created(self, running: LocalBroker) -> None:
        admin = AdminClient(client_config(running.client_settings))
        resource = ConfigResource(ResourceType.BROKER, "1")
        configs = admin.describe_configs([resource])[resource].result(30)
        assert "false" == configs["auto.create.topics.enable"].value
        assert "0" == configs["group.initial.rebalance.delay.ms"].value


class TestStatus:
    """`status` reports running with pid, port and version (exit 0), or stopped (exit 3)."""

    def test_running(self, running: LocalBroker) -> None:
        status = running.status()
        assert (True, running.node.config.port, get_settings().kafka_version) == (
            status.running,
            status.port,
            status.version,
        )
        assert status.pid is not None

    def test_cli_running_exits_0(self, running: LocalBroker) -> None:
        result = _cli(running.root.parent, running.node.config.port, "status")
        assert 0 == result.returncode
        assert f"running  pid {running.status().pid}" in result.stdout

    def test_cli_stopped_exits_3(self, tmp_path: Path) -> None:
        result = _cli(tmp_path, free_port_block(get_settings().kafka_port + 2, 2), "status")
        assert 3 == result.returncode
        assert "stopped" in result.stdout


class TestStalePidFile:
    """A pid file whose process is gone or is not this broker is ignored and removed."""

    def test_dead_pid_reads_as_stopped(self, tmp_path: Path) -> None:
        broker = _broker(tmp_path, free_port_block(get_settings().kafka_port + 2, 2))
        broker.node.pid_file.parent.mkdir(parents=True)
        # Above the kernel's largest pid (2**22): no such process can exist.
        broker.node.pid_file.write_text(json.dumps({"pid": 2**22 + 7, "version": "4.0.1"}))
        assert broker.status().running is False
        assert broker.node.pid_file.exists() is False

    def test_pid_of_another_process_is_never_signalled(self, tmp_path: Path) -> None:
        broker = _broker(tmp_path, free_port_block(get_settings().kafka_port + 2, 2))
        broker.node.pid_file.parent.mkdir(parents=True)
        # Our own pid: alive, but not a kafka.Kafka JVM of this home.
        broker.node.pid_file.write_text(json.dumps({"pid": os.getpid(), "version": "4.0.1"}))
        assert broker.stop() is False
        assert broker.node.pid_file.exists() is False


class TestDownPurge:
    """`down --purge` after an `up` over a stale pid file leaves no JVM, a free port, no data."""

    def test_down_purge(self, tmp_path: Path) -> None:
        port = free_port_block(get_settings().kafka_port + 2, 2)
        broker = _broker(tmp_path, port)
        broker.node.pid_file.parent.mkdir(parents=True)
        broker.node.pid_file.write_text(json.dumps({"pid": os.getpid(), "version": "4.0.1"}))
        try:
            broker.start()
            pid = broker.status().pid
            assert pid is not None
            assert [pid] == _jvm_pids_using(broker.node.props_file)
        finally:
            result = _cli(tmp_path, port, "down", "--purge")
        assert 0 == result.returncode, result.stderr
        assert [] == _jvm_pids_using(broker.node.props_file)
        assert (True, False) == (port_free(port), port_accepts(port))
        assert broker.root.exists() is False
        assert 3 == _cli(tmp_path, port, "status").returncode


class TestStaleDataDirectory:
    """A data directory formatted with other credentials is named as the cause, with the fix."""

    def test_refused_credentials_say_purge(self, tmp_path: Path) -> None:
        port = free_port_block(get_settings().kafka_port + 2, 2)
        broker = _broker(tmp_path, port)
        try:
            broker.start()
            broker.stop()
            # new secrets (a new admin password) over a data dir formatted with the old ones
            shutil.rmtree(broker.secrets_dir)
            with pytest.raises(CredentialsRefused) as refused:
                _broker(tmp_path, port).start()
        finally:
            broker.stop(purge=True)
        assert "ketenbus kafka down --purge" in str(refused.value)
        assert [] == _jvm_pids_using(broker.node.props_file)
