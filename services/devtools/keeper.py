"""Keep one service alive: restart it when it exits or when its health check fails.

`python -m devtools.keeper --name NAME --health-url URL -- COMMAND...` runs COMMAND as its
child and polls URL every `--interval` seconds. The child is restarted (SIGTERM, SIGKILL
after a grace period, then a fresh start with a growing back-off) when it exits, or when
URL answered anything but 2xx (or nothing) `--failures` times in a row once the child had
been healthy or its start grace ran out. A correlator worker whose ingest stage died
answers `/healthz` 503, so this is what brings it back.

`ketenbus up` starts every service that declares a health path through a keeper; the
keeper and its child share the process group the supervisor signals on `ketenbus down`.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ketenbus.logging import configure_logging, get_logger
from ketenbus.processes import stop_on_signals

log = get_logger("keeper")

STOP_GRACE_S = 15.0
MAX_BACKOFF_S = 30.0


@dataclass(frozen=True)
class KeeperConfig:
    name: str
    command: tuple[str, ...]
    health_url: str | None
    # 3 checks 5 s apart, each given 5 s to answer: a worker whose event loop is busy for
    # a few seconds (a big batch, table recovery on a loaded host) is not restarted for
    # it; about the Kubernetes liveness probe of deploy/k8s (3 x 10 s)
    interval: float = 5.0
    failures: int = 3
    start_grace: float = 120.0
    answer_timeout: float = 5.0


def health_problem(url: str, timeout: float = 5.0) -> str | None:
    """None when `url` answers 2xx within `timeout` seconds, else what went wrong."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        return f"answered {exc.code}"
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"unreachable ({type(getattr(exc, 'reason', exc)).__name__})"
    return None if 200 <= status < 300 else f"answered {status}"


def current_child(keeper_pid: int) -> int | None:
    """The pid of the service a keeper (process `keeper_pid`) runs now, if any (Linux)."""
    try:
        children = Path(f"/proc/{keeper_pid}/task/{keeper_pid}/children").read_text().split()
    except OSError:  # the keeper is gone
        return None
    return int(children[0]) if children else None


class Keeper:
    """Runs the child, watches it, restarts it; until `stop` is set."""

    def __init__(self, config: KeeperConfig, stop: threading.Event) -> None:
        self.config = config
        self.stop = stop
        self.restarts = 0

    def run(self) -> int:
        backoff = 1.0
        while not self.stop.is_set():
            child = subprocess.Popen(self.config.command)
            log.info("service_started", service=self.config.name, pid=child.pid)
            reason = self._watch(child)
            self._terminate(child)
            if reason is None:  # asked to stop
                return 0
            self.restarts += 1
            log.warning(
                "service_restarting",
                service=self.config.name,
                reason=reason,
                restarts=self.restarts,
                backoff_s=backoff,
            )
            self.stop.wait(backoff)
            backoff = min(MAX_BACKOFF_S, backoff * 2)
        return 0

    def _watch(self, child: subprocess.Popen[bytes]) -> str | None:
        """Why the child must be restarted, or None when the keeper was asked to stop."""
        started = time.monotonic()
        was_healthy = False
        failed = 0
        while not self.stop.wait(self.config.interval):
            code = child.poll()
            if code is not None:
                return f"exited with status {code}"
            url = self.config.health_url
            if url is None:
                continue
            problem = health_problem(url, self.config.answer_timeout)
            if problem is None:
                was_healthy, failed = True, 0
                continue
            if not was_healthy and time.monotonic() - started < self.config.start_grace:
                continue  # still starting (a faust worker recovers its tables first)
            failed += 1
            if failed >= self.config.failures:
                return f"unhealthy: {url} failed {failed} checks in a row, the last {problem}"
        return None

    def _terminate(self, child: subprocess.Popen[bytes]) -> None:
        if child.poll() is not None:
            return
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=STOP_GRACE_S)


def parse(argv: Sequence[str]) -> KeeperConfig:
    parser = argparse.ArgumentParser(prog="python -m devtools.keeper")
    parser.add_argument("--name", required=True)
    parser.add_argument("--health-url")
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--answer-timeout", type=float, default=5.0)
    parser.add_argument("--failures", type=int, default=3)
    parser.add_argument("--start-grace", type=float, default=120.0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("a command to keep is required after --")
    return KeeperConfig(
        name=args.name,
        command=tuple(command),
        health_url=args.health_url,
        interval=args.interval,
        failures=args.failures,
        start_grace=args.start_grace,
        answer_timeout=args.answer_timeout,
    )


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging("INFO")
    config = parse(sys.argv[1:] if argv is None else argv)
    return Keeper(config, stop_on_signals(log)).run()


if __name__ == "__main__":
    sys.exit(main())
