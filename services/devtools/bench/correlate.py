"""`ketenbus bench correlate`: the correlator's throughput and latency, and the ceiling.

On a throwaway backbone (fresh broker + correlator, `devtools.sandbox`):
1. throughput: N synthetic events published at once; events/s from the first publish
   until `wait-idle` says every group caught up;
2. latency at a fixed offered rate: source record's broker timestamp -> timestamp of
   each notification that reports that event (p50/p99);
3. the raw ceiling: a plain confluent-kafka consume + fastavro decode loop over the same
   source topics (at least 20,000 decoded events, from the first record on); the ratio;
4. with `rebuild`: `ketenbus rebuild` of everything published, its replay events/s.
The correlator process's CPU seconds (throughput run) and peak RSS come from /proc.

With `history` (the memory question: a worker holding ~100,000 cases), before step 1:
H synthetic events (refs `HIS-...`) are published with the correlator stopped, the
offline `ketenbus rebuild` writes the tables, a worker started afterwards recovers every
row from the changelogs (one marker event, handled only once recovery is done, tells
when), and its RSS then is reported; steps 1-2 then run on top of that history.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from correlator.projection import read_topic
from devtools.sandbox import Backbone
from devtools.synthetic import synthetic_records
from intake.base import IntakeItem
from intake.runtime import build_publisher
from ketenbus.agencies import CASES_TOPIC, NOTIFICATION_PREFIX, SOURCE_PREFIX
from ketenbus.contracts.codec import get_codec
from ketenbus.kafka_clients import client_config
from ketenbus.settings import Settings, get_settings

Progress = Callable[[str], None]


@dataclass(frozen=True)
class History:
    """The history a worker recovered before the runs (`--history`), and its memory then."""

    events: int
    rebuild_seconds: float  # the offline replay that wrote the tables
    cases: int  # distinct cases on cases.events after it
    recovered_rss_bytes: int  # VmRSS of the worker once it recovered every row
    recovered_peak_rss_bytes: int  # VmHWM then (recovery's own peak)


@dataclass(frozen=True)
class CorrelateFigures:
    events: int
    seconds: float
    cpu_seconds: float  # of the correlator process, during the throughput run
    peak_rss_bytes: int  # of the correlator process, over the whole bench
    latency_rate: float
    latency_samples: int
    p50_ms: float
    p99_ms: float
    raw_events: int
    raw_seconds: float
    cases: int = 0  # distinct cases on cases.events after the runs
    workers: int = 1  # correlator worker processes (CPU and RSS are their sums)
    rebuild_events: int | None = None
    rebuild_seconds: float | None = None
    live_aggregates: int = 0  # KETENBUS_CORRELATOR_LIVE_AGGREGATES of the workers
    rss_bytes: int = 0  # of the correlator process(es) at the end (VmRSS)
    history: History | None = None

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds

    @property
    def raw_per_second(self) -> float:
        return self.raw_events / self.raw_seconds

    @property
    def ratio(self) -> float:
        return self.events_per_second / self.raw_per_second

    @property
    def rebuild_per_second(self) -> float | None:
        if self.rebuild_events is None or not self.rebuild_seconds:
            return None
        return self.rebuild_events / self.rebuild_seconds

    def as_json(self) -> dict[str, object]:
        return {
            "events": self.events,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events_per_second, 1),
            "cpu_seconds_per_event": round(self.cpu_seconds / self.events, 6),
            "latency_rate": self.latency_rate,
            "latency_samples": self.latency_samples,
            "p50_ms": round(self.p50_ms, 1),
            "p99_ms": round(self.p99_ms, 1),
            "ceiling_events": self.raw_events,
            "ceiling_seconds": round(self.raw_seconds, 3),
            "ceiling_events_per_second": round(self.raw_per_second, 1),
            "ratio": round(self.ratio, 4),
            "peak_rss_bytes": self.peak_rss_bytes,
            "cases": self.cases,
            "workers": self.workers,
            "rebuild_events": self.rebuild_events,
            "rebuild_seconds": None
            if self.rebuild_seconds is None
            else round(self.rebuild_seconds, 3),
            "rebuild_events_per_second": _round(self.rebuild_per_second, 1),
            "live_aggregates": self.live_aggregates,
            "rss_bytes": self.rss_bytes,
            "history_events": self.history.events if self.history else None,
            "history_rebuild_seconds": self.history.rebuild_seconds if self.history else None,
            "history_cases": self.history.cases if self.history else None,
            "recovered_rss_bytes": self.history.recovered_rss_bytes if self.history else None,
            "recovered_peak_rss_bytes": self.history.recovered_peak_rss_bytes
            if self.history
            else None,
        }

    def lines(self) -> list[str]:
        latency = f"p50 {self.p50_ms:.0f} ms, p99 {self.p99_ms:.0f} ms"
        found = []
        if self.history is not None:
            found.append(
                f"history                 {self.history.events} events rebuilt in"
                f" {self.history.rebuild_seconds:.1f} s, {self.history.cases} cases;"
                f" recovered: RSS {self.history.recovered_rss_bytes / 2**20:.0f} MiB"
                f" (peak {self.history.recovered_peak_rss_bytes / 2**20:.0f} MiB)"
            )
        found += [
            f"correlator throughput   {self.events} events in {self.seconds:.1f} s"
            f" = {self.events_per_second:,.0f} events/s (publish -> idle),"
            f" CPU {1000 * self.cpu_seconds / self.events:.2f} ms/event",
            f"end-to-end latency      at {self.latency_rate:.0f} events/s offered,"
            f" {self.latency_samples} notifications: {latency}",
            f"raw ceiling             consume + Avro decode: {self.raw_events} events in"
            f" {self.raw_seconds:.2f} s = {self.raw_per_second:,.0f} events/s",
            f"ratio                   correlator / raw = {self.ratio:.3f}",
            f"peak RSS                correlator {self.peak_rss_bytes / 2**20:.0f} MiB"
            f" with {self.cases} cases (at the end {self.rss_bytes / 2**20:.0f} MiB;"
            f" live cache {self.live_aggregates:,} aggregates per inbox)"
            + (f" ({self.workers} workers together)" if self.workers > 1 else ""),
        ]
        if self.rebuild_per_second is not None:
            found.append(
                f"rebuild                 {self.rebuild_events} events replayed in"
                f" {self.rebuild_seconds:.1f} s = {self.rebuild_per_second:,.0f} events/s"
            )
        return found


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


class Meters:
    """CPU seconds and peak RSS of several processes together (the correlator workers)."""

    def __init__(self, pids: list[int]) -> None:
        self.meters = [ProcessMeter(pid) for pid in pids]

    def cpu_seconds(self) -> float:
        return sum(meter.cpu_seconds() for meter in self.meters)

    def peak_rss_bytes(self) -> int:
        return sum(meter.peak_rss_bytes() for meter in self.meters)

    def rss_bytes(self) -> int:
        return sum(meter.rss_bytes() for meter in self.meters)


class ProcessMeter:
    """CPU seconds and peak RSS of one process, from /proc (Linux)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._ticks = os.sysconf("SC_CLK_TCK")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._ticks  # utime + stime

    def peak_rss_bytes(self) -> int:
        return self._status("VmHWM:")

    def rss_bytes(self) -> int:
        return self._status("VmRSS:")

    def _status(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) * 1024
        return 0


def _publish_file(backbone: Backbone, records: list[dict[str, object]], name: str) -> None:
    path = backbone.home / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    # ~2,000 records/s on a busy box: the default 300 s would stop a 100,000-case run
    backbone.cli("publish", str(path), timeout=max(300.0, len(records) / 100))


def _source_timestamps(settings: Settings) -> dict[str, int]:
    """agency/ref -> broker timestamp (ms) of every source event."""
    codec = get_codec()
    stamps: dict[str, int] = {}
    admin_topics = Consumer(client_config(settings, group_id="bench-ts")).list_topics(timeout=10)
    for topic in admin_topics.topics:
        if topic.startswith(SOURCE_PREFIX):
            for message in read_topic(topic, settings=settings):
                record = codec.decode(message.value()).record
                stamps[f"{record['agency']}/{record['ref']}"] = message.timestamp()[1]
    return stamps


def _latencies(settings: Settings, prefix: str) -> list[int]:
    codec = get_codec()
    sources = _source_timestamps(settings)
    found: list[int] = []
    topics = Consumer(client_config(settings, group_id="bench-n")).list_topics(timeout=10)
    for topic in topics.topics:
        if not topic.startswith(NOTIFICATION_PREFIX):
            continue
        for message in read_topic(topic, settings=settings):
            record = codec.decode(message.value()).record
            for change in record["changes"]:
                label = change.removeprefix("event:+")
                if change.startswith("event:+") and prefix in label and label in sources:
                    found.append(message.timestamp()[1] - sources[label])
    return found


#: The ceiling is measured on at least this many decoded events (the source topics are
#: read again from the start as often as needed).
CEILING_MIN_EVENTS = 20_000


def _count_cases(settings: Settings) -> int:
    """Distinct cases on cases.events (a tombstone removes a merged case)."""
    live: set[bytes] = set()
    for message in read_topic(CASES_TOPIC, settings=settings):
        key = message.key() or b""
        if message.value() is None:
            live.discard(key)
        else:
            live.add(key)
    return len(live)


def _raw_ceiling(settings: Settings, minimum: int = CEILING_MIN_EVENTS) -> tuple[int, float]:
    """A plain consume + decode loop over every source topic, from the beginning.

    No consumer group (partitions are assigned); the clock starts at the first record,
    so client start and connection set-up are not counted.
    """
    codec = get_codec()
    consumer = Consumer(
        client_config(
            settings,
            group_id="bench-raw",
            enable_auto_commit=False,
            enable_partition_eof=True,
            fetch_min_bytes=1,
        )
    )
    metadata = consumer.list_topics(timeout=10)
    assignment = [
        TopicPartition(topic, p, OFFSET_BEGINNING)
        for topic, described in metadata.topics.items()
        if topic.startswith(SOURCE_PREFIX)
        for p in described.partitions
    ]
    count, started = 0, 0.0
    while count < minimum:
        consumer.assign(assignment)
        remaining, before = len(assignment), count
        while remaining:
            for message in consumer.consume(1000, timeout=1.0):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        remaining -= 1
                    continue
                if not started:
                    started = time.perf_counter()
                codec.decode(message.value())
                count += 1
        consumer.unassign()
        if count == before:
            break  # nothing to read
    elapsed = time.perf_counter() - started if started else 0.0
    consumer.close()
    return count, elapsed


_REPLAYED = re.compile(r"replayed (\d+) source events in ([\d.]+) s")


def _rebuild(backbone: Backbone, progress: Progress) -> tuple[int, float]:
    """`ketenbus rebuild --yes` on the backbone; its own measure of the replay."""
    backbone.stop_correlator()
    done = backbone.cli("rebuild", "--yes", timeout=3600)
    for line in done.stdout.splitlines():
        if line.startswith(("read ", "folded ", "wrote ", "replayed ")) or " CPU in " in line:
            progress(f"rebuild: {line}")
    match = _REPLAYED.search(done.stdout)
    if match is None:
        raise AssertionError(f"ketenbus rebuild printed no replay figure:\n{done.stdout}")
    return int(match.group(1)), float(match.group(2))


def _recover_history(
    backbone: Backbone, events: int, dwellings: int | None, progress: Progress
) -> History:
    """Publish `events` synthetic events with the correlator stopped, rebuild the tables
    offline, start worker 1 again and wait until it recovered them (`--history`)."""
    records = synthetic_records(events, seed=3, prefix="HIS", dwellings=dwellings)
    backbone.stop_correlator()
    progress(f"history: publishing {events} synthetic events (correlator stopped)")
    _publish_file(backbone, records, "history.jsonl")
    progress("history: ketenbus rebuild --yes (writes the tables' changelogs)")
    _, rebuild_seconds = _rebuild(backbone, progress)
    cases = _count_cases(backbone.client_settings)
    progress(f"history: {cases} cases; a worker recovers them from the changelogs")
    backbone.start_correlator()
    # The agents handle an inbox message only once the tables are recovered: one marker
    # event handled (idle) means recovery is done. Its ref and address are its own.
    marker = synthetic_records(1, seed=4, prefix="MRK", dwellings=dwellings)
    _publish_file(backbone, marker, "marker.jsonl")
    backbone.wait_idle(timeout=3600)
    meter = ProcessMeter(backbone.workers[1].pid)
    return History(
        events=events,
        rebuild_seconds=rebuild_seconds,
        cases=cases,
        recovered_rss_bytes=meter.rss_bytes(),
        recovered_peak_rss_bytes=meter.peak_rss_bytes(),
    )


def _item(record: dict[str, object], line: int) -> IntakeItem:
    payload = json.dumps(record).encode()
    return IntakeItem(payload=payload, original=payload, line=line)


def run_correlate_bench(
    events: int,
    rate: float,
    seconds: float,
    progress: Progress,
    *,
    rebuild: bool = False,
    dwellings: int | None = None,
    workers: int = 1,
    history: int = 0,
    live_aggregates: int | None = None,
) -> CorrelateFigures:
    # SIGTERM (e.g. `timeout`) ends the bench through its `finally`: no broker left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if live_aggregates is not None:  # the workers inherit the bench's environment
        os.environ["KETENBUS_CORRELATOR_LIVE_AGGREGATES"] = str(live_aggregates)
    home = Path(tempfile.mkdtemp(prefix="ketenbus-bench-"))
    backbone = Backbone(home, max_workers=max(3, workers))
    os.environ.update({k: v for k, v in backbone.env.items() if k.startswith("KETENBUS_")})
    get_settings.cache_clear()
    progress(f"starting a throwaway broker and correlator under {home}")
    backbone.start()
    recovered: History | None = None
    try:
        if history:
            backbone.wait_idle()  # the topics and groups exist before the rebuild resets them
            recovered = _recover_history(backbone, history, dwellings, progress)
        for worker in range(2, workers + 1):  # one consumer group: they share the partitions
            backbone.start_correlator(worker)
        backbone.wait_idle()  # the correlator has joined and is idle
        meter = Meters([process.pid for process in backbone.workers.values()])
        records = synthetic_records(events, seed=1, dwellings=dwellings)
        progress(f"throughput: publishing {events} synthetic events")
        cpu_before = meter.cpu_seconds()
        started = time.perf_counter()
        _publish_file(backbone, records, "throughput.jsonl")
        backbone.wait_idle(timeout=3600)
        elapsed = time.perf_counter() - started
        cpu = meter.cpu_seconds() - cpu_before
        count = int(rate * seconds)
        progress(f"latency: {count} events at {rate:.0f}/s")
        # A year that ends now: the intake refuses an `occurred_at` ahead of its clock
        # (a fixed later date made every latency record a refusal once the clock passed it).
        later = datetime.now(UTC) - timedelta(days=366)
        paced = synthetic_records(count, seed=2, start=later, prefix="LAT")
        publisher = build_publisher(settings=get_settings())
        tick = 0.1
        per_tick = max(1, int(rate * tick))
        began = time.perf_counter()
        for n in range(0, count, per_tick):
            chunk = paced[n : n + per_tick]
            publisher.submit_many(
                (_item(record, n + i) for i, record in enumerate(chunk)),
                source="bench",
            )
            pause = began + (n // per_tick + 1) * tick - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        publisher.producer.flush()
        backbone.wait_idle(timeout=3600)
        peak_rss = meter.peak_rss_bytes()
        rss = meter.rss_bytes()
        cases = _count_cases(backbone.client_settings)
        samples = sorted(_latencies(backbone.client_settings, "LAT-"))
        progress("raw ceiling: consume + decode the same source topics")
        raw_events, raw_seconds = _raw_ceiling(backbone.client_settings)
        replayed: tuple[int, float] | None = None
        if rebuild:
            for worker in range(2, workers + 1):  # `ketenbus rebuild` runs one worker
                backbone.stop_correlator(worker=worker)
            progress("rebuild: ketenbus rebuild --yes (replay of every source event)")
            replayed = _rebuild(backbone, progress)
    finally:
        backbone.stop()
        shutil.rmtree(home, ignore_errors=True)
    quantiles = statistics.quantiles(samples, n=100) if len(samples) >= 2 else [0.0] * 99
    return CorrelateFigures(
        events=events,
        seconds=elapsed,
        cpu_seconds=cpu,
        peak_rss_bytes=peak_rss,
        latency_rate=rate,
        latency_samples=len(samples),
        p50_ms=statistics.median(samples) if samples else 0.0,
        p99_ms=quantiles[98],
        raw_events=raw_events,
        raw_seconds=raw_seconds,
        cases=cases,
        workers=workers,
        rebuild_events=replayed[0] if replayed else None,
        rebuild_seconds=replayed[1] if replayed else None,
        live_aggregates=get_settings().correlator_live_aggregates,
        rss_bytes=rss,
        history=recovered,
    )
