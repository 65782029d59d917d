"""An agency service (`python -m agencies.<service>`) in a child process on a free port:
real uvicorn, real HTTP, its output in a log file. Used by `ketenbus bench intake` and by
the integration tests that need the service as deployed (streamed bodies, audit lines,
staying up under hostile input)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from ketenbus.errors import KetenbusError

READY_POLL_S = 0.2


class ServiceNotReady(KetenbusError):
    """The service process exited, or did not answer `/readyz` in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServiceProcess:
    """`python -m agencies.<service> --port <free port>`; stdout and stderr go to `log`.

    `env` is added to this process's environment (e.g. the Kafka principal to run as);
    `bootstrap_servers` and `log_level` become KETENBUS_BOOTSTRAP_SERVERS and
    KETENBUS_LOG_LEVEL. Use as a context manager, or call `stop()`.
    """

    def __init__(
        self,
        service: str,
        bootstrap_servers: str,
        log: Path,
        *,
        log_level: str = "INFO",
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.service = service
        self.port = free_port()
        self.log = log
        child_env = os.environ | {
            "KETENBUS_BOOTSTRAP_SERVERS": bootstrap_servers,
            "KETENBUS_LOG_LEVEL": log_level,
            **(env or {}),
        }
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"agencies.{service}", "--port", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=child_env,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Return once `/readyz` answers 200; `ServiceNotReady` (with the log's tail) if
        the process exits or the time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise ServiceNotReady(
                    f"{self.service} service exited: {self.log_tail()} (log: {self.log})"
                )
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(READY_POLL_S)
        raise ServiceNotReady(f"{self.service} service did not become ready (log: {self.log})")

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def cpu_seconds(self) -> float:
        """User + system CPU time the process used so far (Linux /proc)."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """SIGTERM (the service flushes its producers), SIGKILL after 15 s."""
        if not self.alive:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
