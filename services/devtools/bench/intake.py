"""Intake throughput: N synthetic records through a running service's HTTP API (one record
per request, a few concurrent clients; and `/records:batch`) and through file import (the
`ketenbus publish` code path). Every record is acknowledged by the broker (acks=all)
before it counts. Not a test: figures depend on the machine (see README)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from devtools.samples import jsonl_lines
from intake.clients import make_token
from intake.files import read_jsonl
from intake.runtime import build_publisher
from ketenbus.errors import KetenbusError
from ketenbus.settings import Settings, get_settings

#: A municipality code for benchmark traffic, apart from the demo's municipalities.
BENCH_AGENCY = "gemeente:9898"
BATCH_LINES = 500


class BenchFailed(KetenbusError):
    """The benchmark could not run (service did not start, records refused)."""


@dataclass(frozen=True)
class Figure:
    label: str
    records: int
    seconds: float
    server_cpu_seconds: float | None = None

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    def __str__(self) -> str:
        text = (
            f"{self.label:<34} {self.records:>7} records  {self.seconds:8.2f} s"
            f"  {self.rate:10.0f} records/s"
        )
        if self.server_cpu_seconds is not None:
            per_record_ms = 1000 * self.server_cpu_seconds / self.records
            text += f"  (service CPU {per_record_ms:.2f} ms/record)"
        return text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _lines(count: int, run: str) -> list[str]:
    return [text for text, _ in jsonl_lines(count, agency=BENCH_AGENCY, prefix=f"BENCH{run}")]


class _Service:
    """The gemeente service in a child process on a free port, for the HTTP figures."""

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.port = _free_port()
        self.log = workdir / "gemeente.log"
        env = os.environ | {
            "KETENBUS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "KETENBUS_KAFKA_PRINCIPAL": "ketenbus-intake-gemeente",
            "KETENBUS_LOG_LEVEL": "WARNING",
        }
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "agencies.gemeente", "--port", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchFailed(f"gemeente service exited; see {self.log}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise BenchFailed("gemeente service did not become ready")

    def cpu_seconds(self) -> float:
        """User + system CPU time the service process used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class _Bearer:
    """`Authorization` values for the bench agency's intake client, re-signed every minute
    (tokens live KETENBUS_INTAKE_TOKEN_MAX_AGE_SECONDS)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._token = ""
        self._made = 0.0

    def __call__(self) -> str:
        if time.monotonic() - self._made > 60:
            self._token = f"Bearer {make_token(BENCH_AGENCY, self.settings)}"
            self._made = time.monotonic()
        return self._token


async def _post_each(url: str, lines: list[str], clients: int, bearer: _Bearer) -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for line in lines:
        queue.put_nowait(line)
    refused: list[str] = []

    async def client() -> None:
        async with httpx.AsyncClient(timeout=60) as http:
            while not queue.empty():
                line = queue.get_nowait()
                response = await http.post(
                    f"{url}/records",
                    content=line,
                    headers={"content-type": "application/json", "authorization": bearer()},
                )
                if response.status_code != 202:
                    refused.append(f"{response.status_code} {response.text[:200]}")

    await asyncio.gather(*(client() for _ in range(clients)))
    if refused:
        raise BenchFailed(f"{len(refused)} records refused, e.g. {refused[0]}")


def _post_batches(url: str, lines: list[str], bearer: _Bearer) -> None:
    with httpx.Client(timeout=300) as http:
        for start in range(0, len(lines), BATCH_LINES):
            body = "\n".join(lines[start : start + BATCH_LINES])
            response = http.post(
                f"{url}/records:batch",
                content=body,
                headers={"content-type": "application/x-ndjson", "authorization": bearer()},
            )
            if response.status_code != 202:
                raise BenchFailed(f"batch refused: {response.status_code} {response.text[:200]}")


def _timed(
    label: str, records: int, action: Callable[[], object], service: _Service | None = None
) -> Figure:
    cpu = service.cpu_seconds() if service else 0.0
    started = time.perf_counter()
    action()
    elapsed = time.perf_counter() - started
    return Figure(label, records, elapsed, service.cpu_seconds() - cpu if service else None)


def run_intake_bench(
    records: int = 5000, clients: int = 4, settings: Settings | None = None
) -> list[Figure]:
    """Measure intake throughput; returns one figure per path."""
    settings = settings or get_settings()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    run = uuid.uuid4().hex[:8]
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="ketenbus-bench-") as tmp:
        workdir = Path(tmp)
        # file import first: it also creates the bench municipality's topics
        path = workdir / "records.jsonl"
        path.write_text("".join(line + "\n" for line in _lines(records, f"F{run}")))
        publisher = build_publisher(settings=settings)
        publisher.topics.ensure_for(BENCH_AGENCY)

        def import_file() -> None:
            outcome = publisher.submit_many(read_jsonl(path), source="bench:file")
            if outcome.rejected:
                raise BenchFailed(f"{len(outcome.rejected)} records refused in file import")

        figures.append(_timed("file import (ketenbus publish)", records, import_file))
        service = _Service(settings, workdir)
        try:
            service.wait_ready()
            lines = _lines(records, f"H{run}")
            # warm-up outside the clock: connections, producer id, metadata
            bearer = _Bearer(settings)
            asyncio.run(_post_each(service.url, lines[:clients], clients, bearer))
            figures.append(
                _timed(
                    f"HTTP POST /records, {clients} clients",
                    records - clients,
                    lambda: asyncio.run(_post_each(service.url, lines[clients:], clients, bearer)),
                    service,
                )
            )
            batch_lines = _lines(records, f"B{run}")
            figures.append(
                _timed(
                    f"HTTP POST /records:batch ({BATCH_LINES}/req)",
                    records,
                    lambda: _post_batches(service.url, batch_lines, bearer),
                    service,
                )
            )
        finally:
            service.stop()
    return figures
