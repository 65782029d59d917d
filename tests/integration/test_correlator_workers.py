"""One live correlator worker per data directory, and the keeper that restarts a service
which exits or turns unhealthy (what `ketenbus up` runs every correlator worker under)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from correlator.datadir import DataDirLock, DataDirLocked
from devtools.embedded_kafka import free_port_block
from devtools.keeper import current_child, health_problem

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from correlator.datadir import DataDirLock
    lock = DataDirLock(Path(sys.argv[1])).acquire()
    print("held", flush=True)
    time.sleep(600)
    """
)

#: A stand-in service: /healthz answers 200, or 503 while the file `sick` exists; a fresh
#: start clears it (as a restarted worker has a fresh ingest stage).
SERVICE = textwrap.dedent(
    """
    import sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from pathlib import Path
    sick = Path(sys.argv[2])
    sick.unlink(missing_ok=True)
    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(503 if sick.exists() else 200)
            self.end_headers()
        def log_message(self, *args):
            pass
    HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """
)


def hold(datadir: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(datadir)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and "held" == holder.stdout.readline().strip()
    return holder


class TestDataDirLock:
    """A data directory a live process holds is refused; the lock dies with its holder."""

    def test_second_lock_refused_then_released_by_sigkill(self, tmp_path: Path) -> None:
        holder = hold(tmp_path / "worker-1")
        try:
            with pytest.raises(DataDirLocked) as refused:
                DataDirLock(tmp_path / "worker-1").acquire()
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait()
        DataDirLock(tmp_path / "worker-1").acquire().release()
        assert f"pid {holder.pid}" in str(refused.value)

    def test_other_worker_number_is_another_directory(self, tmp_path: Path) -> None:
        first = DataDirLock(tmp_path / "worker-1").acquire()
        try:
            DataDirLock(tmp_path / "worker-2").acquire().release()
        finally:
            first.release()


class TestSecondWorkerRefused:
    """`python -m correlator worker` on a data directory a live worker holds exits 2 with a
    clear reason, before it joins any consumer group."""

    def test_refused(self, tmp_path: Path) -> None:
        holder = hold(tmp_path / "correlator" / "worker-1")
        try:
            env = {
                **os.environ,
                "KETENBUS_HOME": str(tmp_path),
                "KETENBUS_CORRELATOR_WORKER": "1",
                # nothing listens here: a worker that got past the lock would hang, not exit 2
                "KETENBUS_BOOTSTRAP_SERVERS": "127.0.0.1:1",
                # and no credentials: the lock is judged before anything needs them
                "KETENBUS_KAFKA_SECRETS_DIR": str(tmp_path / "no-secrets"),
            }
            done = subprocess.run(
                [sys.executable, "-m", "correlator", "worker"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait()
        assert (2, True) == (done.returncode, "held by a live correlator worker" in done.stderr)


def healthy(port: int | None) -> bool:
    """Whether the worker on `port` answers /healthz 2xx (the keeper's own check)."""
    return health_problem(f"http://127.0.0.1:{port}/healthz", timeout=2) is None


def wait_for_new_healthy_child(keeper: subprocess.Popen[bytes], port: int, old: int | None) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pid = current_child(keeper.pid)
        if pid is not None and pid != old and healthy(port):
            return pid
        time.sleep(0.2)
    raise AssertionError("the keeper did not bring up a new healthy child")


@pytest.fixture
def kept(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    port = free_port_block(41000 + os.getpid() % 1000, 1)
    sick = tmp_path / "sick"
    keeper = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devtools.keeper",
            "--name",
            "standin",
            "--health-url",
            f"http://127.0.0.1:{port}/healthz",
            "--interval",
            "0.2",
            "--failures",
            "2",
            "--start-grace",
            "10",
            "--",
            sys.executable,
            "-c",
            SERVICE,
            str(port),
            str(sick),
        ],
        stdout=(tmp_path / "keeper.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        yield keeper, port, sick
    finally:
        keeper.send_signal(signal.SIGTERM)
        keeper.wait(timeout=30)


class TestKeeper:
    """The keeper restarts its service when it answers /healthz 503 and when it dies."""

    def test_unhealthy_service_restarted(
        self, kept: tuple[subprocess.Popen[bytes], int, Path]
    ) -> None:
        keeper, port, sick = kept
        first = wait_for_new_healthy_child(keeper, port, None)
        sick.touch()
        second = wait_for_new_healthy_child(keeper, port, first)
        assert (True, False) == (second != first, sick.exists())

    def test_killed_service_restarted(
        self, kept: tuple[subprocess.Popen[bytes], int, Path]
    ) -> None:
        keeper, port, _ = kept
        first = wait_for_new_healthy_child(keeper, port, None)
        os.kill(first, signal.SIGKILL)
        second = wait_for_new_healthy_child(keeper, port, first)
        assert second != first

    def test_stopping_the_keeper_stops_the_service(
        self, kept: tuple[subprocess.Popen[bytes], int, Path]
    ) -> None:
        keeper, port, _ = kept
        child = wait_for_new_healthy_child(keeper, port, None)
        keeper.send_signal(signal.SIGTERM)
        keeper.wait(timeout=30)
        assert (0, False) == (keeper.returncode, Path(f"/proc/{child}").exists())
