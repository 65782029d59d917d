"""`ketenbus up | down | status` machinery: a real agency service in the background."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from devtools.supervisor import SERVICES, Supervisor
from ketenbus.settings import get_settings

pytestmark = pytest.mark.broker

KETENBUS = str(Path(sys.executable).parent / "ketenbus")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestSupervisor:
    """A service starts with pid and log files, a second start is a no-op, stop stops it."""

    def test_start_twice_status_stop(self, bootstrap_servers: str, tmp_path: Path) -> None:
        settings = get_settings().model_copy(update={"home": tmp_path, "nla_port": free_port()})
        spec = next(s for s in SERVICES if s.name == "nla")
        supervisor = Supervisor(settings, services=(spec,))
        pid, started = supervisor.start(spec)
        try:
            again = supervisor.start(spec)
            ready = httpx.get(
                f"http://127.0.0.1:{settings.nla_port}/readyz", timeout=10
            ).status_code
            up = supervisor.state(spec)
        finally:
            stopped = supervisor.stop(spec)
        down = supervisor.state(spec)
        assert (True, (pid, False), 200, "up", pid, True, "down", False) == (
            started,
            again,
            ready,
            up.state,
            up.pid,
            stopped,
            down.state,
            supervisor.pid_file(spec).exists(),
        )
        assert supervisor.log_file(spec).is_file()

    def test_stale_pid_file_is_down(self, tmp_path: Path) -> None:
        settings = get_settings().model_copy(update={"home": tmp_path})
        spec = next(s for s in SERVICES if s.name == "nau")
        supervisor = Supervisor(settings, services=(spec,))
        supervisor.run_dir.mkdir(parents=True)
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        supervisor.pid_file(spec).write_text(f"{dead.pid}\n")
        assert ("down", False) == (supervisor.state(spec).state, supervisor.pid_file(spec).exists())


class TestStatusCommand:
    """`ketenbus status` lists every service and exits 3 when one is down."""

    def test_nothing_running(self, tmp_path: Path) -> None:
        env = os.environ | {"KETENBUS_HOME": str(tmp_path)}
        result = subprocess.run(
            [KETENBUS, "status"], capture_output=True, text=True, env=env, timeout=60
        )
        rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1:]}
        assert (3, "down", "down", "down", "down") == (
            result.returncode,
            rows["gemeente"],
            rows["nla"],
            rows["politie"],
            rows["nau"],
        )


class TestPseudonymKeyAtStart:
    """Outside dev/test an agency service refuses to start without a pseudonym key."""

    def test_prod_without_key(self, bootstrap_servers: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "KETENBUS_PSEUDONYM_KEY"}
        env |= {"KETENBUS_ENVIRONMENT": "prod", "KETENBUS_BOOTSTRAP_SERVERS": bootstrap_servers}
        result = subprocess.run(
            [sys.executable, "-m", "agencies.nla", "--port", str(free_port())],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert (2, True) == (result.returncode, "refusing to start" in result.stderr)
