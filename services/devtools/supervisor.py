"""Run the backbone's services locally in the background (`ketenbus up | down | status`).

The services are data: `SERVICES` lists each one's module (`python -m <module> <args>`)
and port setting; adding a service is one line. A service whose package is not installed
(yet) is skipped. Agency services added with `ketenbus new-adapter` need no line here:
every adapter topics.yaml names (`adapter:`) runs too (`adapter_services`), on the port
its adapter declares or KETENBUS_ADAPTER_PORTS gives. Each runs in its own session
(process group) with a pid file and a log file under `settings.run_dir`; `down` signals
exactly those process groups.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ketenbus.errors import KetenbusError
from ketenbus.processes import pid_alive
from ketenbus.settings import Settings, get_settings

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


class ServiceStartFailed(KetenbusError):
    """A service exited or did not open its port in time."""


@dataclass(frozen=True)
class ServiceSpec:
    """One background service; `{port}` in `args` is replaced by the port setting's value.

    `principal` names the Kafka principal it runs as (topics.yaml `services:`), handed over
    by NAME in KETENBUS_KAFKA_PRINCIPAL: the service reads its own properties file, so no
    secret is ever on a command line or in the environment `ps e` shows.
    """

    name: str
    module: str
    args: tuple[str, ...] = ()
    port_setting: str | None = None
    #: used when there is no port setting (adapters added with `ketenbus new-adapter`)
    default_port: int | None = None
    #: added to the port setting's value (correlator worker n: n - 1)
    port_offset: int = 0
    #: extra environment of the process (correlator worker n: KETENBUS_CORRELATOR_WORKER=n)
    env: tuple[tuple[str, str], ...] = ()
    #: a path answering 2xx while the service is healthy: the service then runs under a
    #: keeper (`devtools.keeper`) that restarts it when it exits or turns unhealthy
    health_path: str | None = None
    #: the Kafka principal the service runs as (its credentials are found by name)
    principal: str | None = None

    def environment(self, base: dict[str, str]) -> dict[str, str]:
        """The service's environment: the caller's, with its own principal and `env`."""
        env = {**base, **dict(self.env)}
        if self.principal is not None:
            env["KETENBUS_KAFKA_PRINCIPAL"] = self.principal
            # credentials of the caller (the operator) must not leak into the service
            for key in ("KETENBUS_KAFKA_SASL_USERNAME", "KETENBUS_KAFKA_SASL_PASSWORD"):
                env.pop(key, None)
            env.pop("KETENBUS_KAFKA_PROPERTIES_FILE", None)
        return env

    def port(self, settings: Settings) -> int | None:
        if self.port_setting:
            return int(getattr(settings, self.port_setting)) + self.port_offset
        return settings.adapter_ports.get(self.name, self.default_port)

    def command(self, settings: Settings) -> list[str]:
        port = self.port(settings)
        args = [a.replace("{port}", str(port)) for a in self.args]
        command = [sys.executable, "-m", self.module, *args]
        if self.health_path is None:
            return command
        url = f"http://127.0.0.1:{port}{self.health_path}"
        keeper = [sys.executable, "-m", "devtools.keeper", "--name", self.name]
        return [*keeper, "--health-url", url, "--", *command]

    @property
    def installed(self) -> bool:
        try:
            return importlib.util.find_spec(f"{self.module}.__main__") is not None
        except ModuleNotFoundError:
            return False


def _intake(name: str, port_setting: str) -> ServiceSpec:
    return ServiceSpec(
        name,
        f"agencies.{name}",
        ("--port", "{port}"),
        port_setting,
        principal=intake_principal(name),
    )


def intake_principal(adapter: str) -> str:
    """The principal of an agency service (topics.yaml service `intake-<adapter>`)."""
    return f"ketenbus-intake-{adapter}"


SERVICES: tuple[ServiceSpec, ...] = (
    _intake("gemeente", "gemeente_port"),
    _intake("nla", "nla_port"),
    _intake("politie", "politie_port"),
    _intake("nau", "nau_port"),
    ServiceSpec(
        "lagmonitor",
        "operations.lagmonitor",
        (),
        "lagmonitor_port",
        principal="ketenbus-lagmonitor",
    ),
    ServiceSpec(
        "webhook",
        "operations.webhook",
        (),
        "webhook_port",
        health_path="/healthz",  # under a keeper: restarted when a subscription stops polling
        principal="ketenbus-webhook",
    ),
)


def correlator_worker_name(worker: int) -> str:
    """`correlator` for worker 1 (as before scaling out), `correlator-<n>` for the others."""
    return "correlator" if worker == 1 else f"correlator-{worker}"


#: the principal every correlator worker runs as (topics.yaml service `correlator`)
CORRELATOR_PRINCIPAL = "ketenbus-correlator"


def correlator_services(settings: Settings) -> tuple[ServiceSpec, ...]:
    """One spec per correlator worker (settings.correlator_workers), each with its own
    worker number (data directory) and web port, kept alive by a keeper on /healthz."""
    return tuple(
        ServiceSpec(
            correlator_worker_name(n),
            "correlator",
            ("worker", "-l", settings.correlator_worker_log_level, "--web-port", "{port}"),
            "correlator_port",
            port_offset=n - 1,
            env=(("KETENBUS_CORRELATOR_WORKER", str(n)),),
            health_path="/healthz",
            principal=CORRELATOR_PRINCIPAL,
        )
        for n in range(1, settings.correlator_workers + 1)
    )


def stray_correlator_services(settings: Settings, known: set[str]) -> tuple[ServiceSpec, ...]:
    """Workers beyond settings.correlator_workers that still have a pid file (started by an
    earlier `ketenbus up --workers N`), so `down` and `status` still see them."""
    pattern = re.compile(r"^correlator-(\d+)\.pid$")
    numbers = sorted(
        int(match.group(1))
        for path in (settings.run_dir.glob("correlator-*.pid") if settings.run_dir.is_dir() else ())
        if (match := pattern.match(path.name)) and path.stem not in known
    )
    wide = settings.model_copy(update={"correlator_workers": max(numbers, default=0)})
    return tuple(spec for spec in correlator_services(wide) if spec.name not in known)


def adapter_services(settings: Settings) -> tuple[ServiceSpec, ...]:
    """The agency services topics.yaml names (`adapter:`) beyond the built-in ones."""
    from intake.registry import (
        BUILTIN_ADAPTERS,
        AdapterNotFound,
        adapter_module,
        adapter_names,
        load_adapter,
    )
    from ketenbus.topics.spec import TopicsError, load_topics

    try:
        names = adapter_names(load_topics(settings.topics_file))
    except TopicsError:  # `ketenbus up` reports an invalid topics.yaml itself
        return ()
    specs = []
    for name in names:
        if name in BUILTIN_ADAPTERS:
            continue
        try:
            port = load_adapter(name).port
        except AdapterNotFound:  # listed as "not installed" by `ketenbus status`
            port = None
        specs.append(
            ServiceSpec(
                name,
                adapter_module(name),
                ("--port", "{port}"),
                default_port=port,
                principal=intake_principal(name),
            )
        )
    return tuple(specs)


@dataclass(frozen=True)
class ServiceState:
    name: str
    pid: int | None
    port: int | None
    running: bool
    installed: bool
    log_file: Path

    @property
    def state(self) -> str:
        if not self.installed:
            return "not installed"
        return "up" if self.running else "down"


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


class Supervisor:
    """Starts, stops and reports `SERVICES` and the added adapters (or those handed in)."""

    def __init__(
        self, settings: Settings | None = None, services: tuple[ServiceSpec, ...] | None = None
    ) -> None:
        self.settings = settings or get_settings()
        if services is None:
            services = (*SERVICES, *adapter_services(self.settings))
            services = (*services, *correlator_services(self.settings))
            known = {spec.name for spec in services}
            services = (*services, *stray_correlator_services(self.settings, known))
        self.services = services
        self.run_dir = self.settings.run_dir

    def pid_file(self, spec: ServiceSpec) -> Path:
        return self.run_dir / f"{spec.name}.pid"

    def log_file(self, spec: ServiceSpec) -> Path:
        return self.run_dir / f"{spec.name}.log"

    def pid(self, spec: ServiceSpec) -> int | None:
        """The pid of the running service; a stale pid file is removed."""
        path = self.pid_file(spec)
        try:
            pid = int(path.read_text().strip())
        except (OSError, ValueError):
            return None
        if pid_alive(pid):
            return pid
        path.unlink(missing_ok=True)
        return None

    def state(self, spec: ServiceSpec) -> ServiceState:
        pid = self.pid(spec) if spec.installed else None
        return ServiceState(
            name=spec.name,
            pid=pid,
            port=spec.port(self.settings),
            running=pid is not None,
            installed=spec.installed,
            log_file=self.log_file(spec),
        )

    def status(self) -> list[ServiceState]:
        return [self.state(spec) for spec in self.services]

    def start(self, spec: ServiceSpec) -> tuple[int, bool]:
        """Start one service unless it runs; returns (pid, started now)."""
        running = self.pid(spec)
        if running is not None:
            return running, False
        self.run_dir.mkdir(parents=True, exist_ok=True)
        port = spec.port(self.settings)
        if port is not None and _port_open(port):
            raise ServiceStartFailed(f"{spec.name}: port {port} is already in use")
        with self.log_file(spec).open("ab") as log:
            process = subprocess.Popen(
                spec.command(self.settings),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: `down` stops it and its children
                env=spec.environment(dict(os.environ)),
            )
        self.pid_file(spec).write_text(f"{process.pid}\n")
        self._wait_started(spec, process, port)
        return process.pid, True

    def _wait_started(
        self, spec: ServiceSpec, process: subprocess.Popen[bytes], port: int | None
    ) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_file(spec).unlink(missing_ok=True)
                raise ServiceStartFailed(
                    f"{spec.name} exited with status {process.returncode};"
                    f" see {self.log_file(spec)}:\n{self._tail(spec)}"
                )
            if port is None or _port_open(port):
                return
            time.sleep(0.2)
        self.stop(spec)
        raise ServiceStartFailed(
            f"{spec.name} did not open port {port} within {START_TIMEOUT_S:.0f}s"
        )

    def _tail(self, spec: ServiceSpec, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_file(spec).read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, spec: ServiceSpec) -> bool:
        """Stop one service (SIGTERM to its process group, SIGKILL after a grace period)."""
        pid = self.pid(spec)
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        self.pid_file(spec).unlink(missing_ok=True)
        return True
