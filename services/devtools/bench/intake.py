"""Intake throughput: N synthetic records through file import (the `ketenbus publish`
code path), through a running service's HTTP API one record per request (a few
concurrent keep-alive clients) and through `/records:batch`. Every record is
acknowledged by the broker (acks=all) before it counts. Not a test: figures depend on
the machine (see docs/benchmarks.md).

The broker is prepared as `ketenbus up` does it (topics.yaml applied, its ACLs synced,
the service's credentials issued), so the service runs as its own principal
`ketenbus-intake-gemeente`, as deployed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from devtools.samples import jsonl_lines
from devtools.service_process import ServiceNotReady, ServiceProcess
from intake.clients import make_token
from intake.files import read_jsonl
from intake.publisher import BULK_LINGER_MS
from intake.runtime import build_publisher, tune_gc
from ketenbus.errors import KetenbusError
from ketenbus.settings import Settings, get_settings

#: A municipality code for benchmark traffic, apart from the demo's municipalities.
BENCH_AGENCY = "gemeente:9898"
SERVICE = "gemeente"
SERVICE_PRINCIPAL = "ketenbus-intake-gemeente"
BATCH_LINES = 500
TOKEN_REFRESH_S = 60.0  # tokens live KETENBUS_INTAKE_TOKEN_MAX_AGE_SECONDS (300 s)


class BenchFailed(KetenbusError):
    """The benchmark could not run (service did not start, records refused)."""


@dataclass(frozen=True)
class Figure:
    label: str
    records: int
    seconds: float
    #: CPU seconds of the process doing the intake (the service, or this one for a file)
    server_cpu_seconds: float | None = None
    #: CPU seconds of the bench's own HTTP clients (this process)
    client_cpu_seconds: float | None = None

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    def __str__(self) -> str:
        text = (
            f"{self.label:<34} {self.records:>7} records  {self.seconds:8.2f} s"
            f"  {self.rate:10.0f} records/s"
        )
        costs = []
        if self.server_cpu_seconds is not None:
            costs.append(f"service CPU {1000 * self.server_cpu_seconds / self.records:.3f}")
        if self.client_cpu_seconds is not None:
            costs.append(f"client CPU {1000 * self.client_cpu_seconds / self.records:.3f}")
        if costs:
            text += f"  ({', '.join(costs)} ms/record)"
        return text


def load_average() -> str:
    """`uptime`'s three load averages: the box may be shared, say how busy it was."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _lines(count: int, run: str) -> list[str]:
    return [text for text, _ in jsonl_lines(count, agency=BENCH_AGENCY, prefix=f"BENCH{run}")]


def prepare_broker(settings: Settings) -> None:
    """As `ketenbus up`: topics.yaml applied, its ACLs synced, the service principal's
    credentials issued, and the bench municipality's topics created."""
    from ketenbus.security.acls import apply_topics_and_acls
    from ketenbus.security.client import properties_path
    from ketenbus.security.issue import issue_credentials
    from ketenbus.topics.admin import ensure_agency_topics, load_topics, make_admin

    admin = make_admin(settings=settings)
    apply_topics_and_acls(admin, load_topics(settings.topics_file))
    if not properties_path(settings, SERVICE_PRINCIPAL).is_file():
        issue_credentials(SERVICE_PRINCIPAL, settings=settings)
    ensure_agency_topics(BENCH_AGENCY, admin, settings=settings)


class _Bearer:
    """The `Authorization` value for the bench agency's intake client, re-signed every
    minute."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._value = ""
        self._made = 0.0

    def __call__(self) -> str:
        if time.monotonic() - self._made > TOKEN_REFRESH_S:
            self._value = f"Bearer {make_token(BENCH_AGENCY, self.settings)}"
            self._made = time.monotonic()
        return self._value


async def _post_each(url: str, lines: list[str], clients: int, bearer: _Bearer) -> None:
    """`clients` concurrent clients, each on its own keep-alive connection, one record a
    request; every answer must be 202."""
    bodies = iter([line.encode() for line in lines])
    refused: list[str] = []

    async def client(session: aiohttp.ClientSession) -> None:
        for body in bodies:  # one shared iterator: each record is sent once
            headers = {"Content-Type": "application/json", "Authorization": bearer()}
            async with session.post(f"{url}/records", data=body, headers=headers) as answer:
                text = await answer.read()
                if answer.status != 202:
                    refused.append(f"{answer.status} {text[:200]!r}")

    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    if refused:
        raise BenchFailed(f"{len(refused)} records refused, e.g. {refused[0]}")


async def _post_batches(url: str, lines: list[str], bearer: _Bearer) -> None:
    timeout = aiohttp.ClientTimeout(total=None, sock_read=300)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for start in range(0, len(lines), BATCH_LINES):
            body = "\n".join(lines[start : start + BATCH_LINES]).encode()
            headers = {"Content-Type": "application/x-ndjson", "Authorization": bearer()}
            async with session.post(f"{url}/records:batch", data=body, headers=headers) as answer:
                text = await answer.read()
                if answer.status != 202:
                    raise BenchFailed(f"batch refused: {answer.status} {text[:200]!r}")


def _timed(
    label: str,
    records: int,
    action: Callable[[], object],
    service: ServiceProcess | None = None,
) -> Figure:
    server = service.cpu_seconds() if service else 0.0
    own = time.process_time()
    started = time.perf_counter()
    action()
    elapsed = time.perf_counter() - started
    own = time.process_time() - own
    if service is None:  # file import: the intake runs in this process
        return Figure(label, records, elapsed, server_cpu_seconds=own)
    return Figure(label, records, elapsed, service.cpu_seconds() - server, own)


def run_intake_bench(
    records: int = 5000, clients: int = 4, settings: Settings | None = None
) -> list[Figure]:
    """Measure intake throughput; returns one figure per path."""
    settings = settings or get_settings()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    run = uuid.uuid4().hex[:8]
    prepare_broker(settings)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="ketenbus-bench-") as tmp:
        workdir = Path(tmp)
        path = workdir / "records.jsonl"
        path.write_text("".join(line + "\n" for line in _lines(records, f"F{run}")))
        # as `ketenbus publish` builds it
        publisher = build_publisher(
            settings=settings, per_agency_principals=True, linger_ms=BULK_LINGER_MS
        )
        try:
            if publisher.fingerprints is not None:  # read once, outside the clock
                publisher.fingerprints.ensure_loaded()
            tune_gc()  # as `ketenbus publish` does

            def import_file() -> None:
                outcome = publisher.submit_many(read_jsonl(path), source="bench:file")
                if outcome.rejected:
                    raise BenchFailed(f"{len(outcome.rejected)} records refused in file import")

            figures.append(_timed("file import (ketenbus publish)", records, import_file))
        finally:
            publisher.close()
        service = ServiceProcess(
            SERVICE,
            settings.bootstrap_servers,
            workdir / f"{SERVICE}.log",
            log_level="WARNING",
            env={"KETENBUS_KAFKA_PRINCIPAL": SERVICE_PRINCIPAL},
        )
        with service:
            try:
                service.wait_ready()
            except ServiceNotReady as exc:
                raise BenchFailed(str(exc)) from None
            figures.extend(_http_figures(service, settings, records, clients, run))
    return figures


def _http_figures(
    service: ServiceProcess, settings: Settings, records: int, clients: int, run: str
) -> list[Figure]:
    bearer = _Bearer(settings)
    lines = _lines(records, f"H{run}")
    # warm-up outside the clock: connections, producer id, metadata, fingerprints
    asyncio.run(_post_each(service.url, lines[:clients], clients, bearer))
    single = _timed(
        f"HTTP POST /records, {clients} clients",
        records - clients,
        lambda: asyncio.run(_post_each(service.url, lines[clients:], clients, bearer)),
        service,
    )
    batch_lines = _lines(records, f"B{run}")
    batch = _timed(
        f"HTTP POST /records:batch ({BATCH_LINES}/req)",
        records,
        lambda: asyncio.run(_post_batches(service.url, batch_lines, bearer)),
        service,
    )
    return [single, batch]
