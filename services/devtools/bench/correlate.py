"""`ketenbus bench correlate`: the correlator's throughput and latency, and the ceiling.

On a throwaway backbone (fresh broker + correlator, `devtools.sandbox`):
1. throughput: N synthetic events published at once; events/s from the first publish
   until `wait-idle` says every group caught up;
2. latency at a fixed offered rate: source record's broker timestamp -> timestamp of
   each notification that reports that event (p50/p99);
3. the raw ceiling: a plain confluent-kafka consume + fastavro decode loop over the same
   source topics; and the ratio of the two.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, TopicPartition

from correlator.projection import read_topic
from devtools.sandbox import Backbone
from devtools.synthetic import synthetic_records
from intake.base import IntakeItem
from intake.runtime import build_publisher
from ketenbus.agencies import NOTIFICATION_PREFIX, SOURCE_PREFIX
from ketenbus.contracts.codec import get_codec
from ketenbus.kafka_clients import client_config
from ketenbus.settings import Settings, get_settings

Progress = Callable[[str], None]


@dataclass(frozen=True)
class CorrelateFigures:
    events: int
    seconds: float
    latency_rate: float
    latency_samples: int
    p50_ms: float
    p99_ms: float
    raw_events: int
    raw_seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds

    @property
    def raw_per_second(self) -> float:
        return self.raw_events / self.raw_seconds

    def lines(self) -> list[str]:
        ratio = self.events_per_second / self.raw_per_second
        latency = f"p50 {self.p50_ms:.0f} ms, p99 {self.p99_ms:.0f} ms"
        return [
            f"correlator throughput   {self.events} events in {self.seconds:.1f} s"
            f" = {self.events_per_second:,.0f} events/s (publish -> idle)",
            f"end-to-end latency      at {self.latency_rate:.0f} events/s offered,"
            f" {self.latency_samples} notifications: {latency}",
            f"raw ceiling             consume + Avro decode: {self.raw_events} events in"
            f" {self.raw_seconds:.2f} s = {self.raw_per_second:,.0f} events/s",
            f"ratio                   correlator / raw = {ratio:.3f}",
        ]


def _publish_file(backbone: Backbone, records: list[dict[str, object]], name: str) -> None:
    path = backbone.home / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    backbone.cli("publish", str(path))


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


def _raw_ceiling(settings: Settings) -> tuple[int, float]:
    """A plain consume + decode loop over every source topic, from the beginning."""
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
        TopicPartition(topic, p, 0)
        for topic, described in metadata.topics.items()
        if topic.startswith(SOURCE_PREFIX)
        for p in described.partitions
    ]
    consumer.assign(assignment)
    remaining, count = len(assignment), 0
    started = time.perf_counter()
    while remaining:
        for message in consumer.consume(1000, timeout=1.0):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    remaining -= 1
                continue
            codec.decode(message.value())
            count += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return count, elapsed


def _item(record: dict[str, object], line: int) -> IntakeItem:
    payload = json.dumps(record).encode()
    return IntakeItem(payload=payload, original=payload, line=line)


def run_correlate_bench(
    events: int, rate: float, seconds: float, progress: Progress
) -> CorrelateFigures:
    # SIGTERM (e.g. `timeout`) ends the bench through its `finally`: no broker left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    home = Path(tempfile.mkdtemp(prefix="ketenbus-bench-"))
    backbone = Backbone(home)
    os.environ.update({k: v for k, v in backbone.env.items() if k.startswith("KETENBUS_")})
    get_settings.cache_clear()
    progress(f"starting a throwaway broker and correlator under {home}")
    backbone.start()
    try:
        backbone.wait_idle()  # the correlator has joined and is idle
        records = synthetic_records(events, seed=1)
        progress(f"throughput: publishing {events} synthetic events")
        started = time.perf_counter()
        _publish_file(backbone, records, "throughput.jsonl")
        backbone.wait_idle(timeout=3600)
        elapsed = time.perf_counter() - started
        count = int(rate * seconds)
        progress(f"latency: {count} events at {rate:.0f}/s")
        later = datetime(2027, 3, 1, tzinfo=UTC)
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
        samples = sorted(_latencies(backbone.client_settings, "LAT-"))
        progress("raw ceiling: consume + decode the same source topics")
        raw_events, raw_seconds = _raw_ceiling(backbone.client_settings)
    finally:
        backbone.stop()
        shutil.rmtree(home, ignore_errors=True)
    quantiles = statistics.quantiles(samples, n=100) if len(samples) >= 2 else [0.0] * 99
    return CorrelateFigures(
        events=events,
        seconds=elapsed,
        latency_rate=rate,
        latency_samples=len(samples),
        p50_ms=statistics.median(samples) if samples else 0.0,
        p99_ms=quantiles[98],
        raw_events=raw_events,
        raw_seconds=raw_seconds,
    )
