"""An idempotent confluent-kafka producer whose sends are confirmed by the broker.

`enable.idempotence` forces `acks=all`: a delivery report means every in-sync replica has
the record. `send()` returns once that report arrived (or raises `DeliveryFailed`);
`send_many()` pipelines a batch and waits for all reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from ketenbus.errors import KetenbusError
from ketenbus.kafka_clients import client_config
from ketenbus.metrics import DELIVERY_ERRORS, PRODUCE_SECONDS
from ketenbus.settings import Settings

Headers = Sequence[tuple[str, bytes | str]]


class DeliveryFailed(KetenbusError):
    """The broker did not acknowledge a record."""

    def __init__(self, topic: str, error: KafkaError | str) -> None:
        super().__init__(f"delivery to {topic} failed: {error}")
        self.topic = topic
        self.error = error


@dataclass
class OutgoingRecord:
    topic: str
    value: bytes | None
    key: bytes | str | None = None
    headers: Headers = ()
    partition: int | None = None


@dataclass
class DeliveryReport:
    topic: str
    partition: int
    offset: int
    error: KafkaError | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _topic_kind(topic: str) -> str:
    return topic.split(".", 1)[0]


#: topic -> its `ketenbus_produce_seconds` child (a label lookup per record costs more
#: than the observation itself)
_timers: dict[str, Any] = {}


def _produce_timer(topic: str) -> Any:
    timer = _timers.get(topic)
    if timer is None:
        timer = _timers[topic] = PRODUCE_SECONDS.labels(_topic_kind(topic))
    return timer


class ReliableProducer:
    """confluent-kafka Producer with idempotence on and delivery reports awaited."""

    def __init__(
        self,
        bootstrap_servers: str | None = None,
        *,
        settings: Settings | None = None,
        principal: str | None = None,
        **config: Any,
    ) -> None:
        """Connects as `principal` (None: the process's own) through `client_config`;
        `config` holds librdkafka settings by their dotted names."""
        defaults: dict[str, Any] = {
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "message.timeout.ms": 60000,
        }
        if bootstrap_servers:
            defaults["bootstrap.servers"] = bootstrap_servers
        conf = client_config(settings, principal=principal, extra={**defaults, **config})
        self._producer = Producer(conf)

    def send(self, record: OutgoingRecord, timeout: float = 60.0) -> DeliveryReport:
        """Produce one record and wait for its delivery report."""
        return self.send_many([record], timeout=timeout)[0]

    def send_many(
        self,
        records: Iterable[OutgoingRecord],
        timeout: float = 60.0,
        *,
        raise_on_error: bool = True,
    ) -> list[DeliveryReport]:
        """Produce records in order and wait until every one is acknowledged."""
        reports: list[DeliveryReport | None] = []

        def make_callback(index: int) -> Callable[[DeliveryReport], None]:
            def on_report(report: DeliveryReport) -> None:
                reports[index] = report

            return on_report

        for record in records:
            reports.append(None)
            self.produce(record, make_callback(len(reports) - 1))
            self._producer.poll(0)
        deadline = time.monotonic() + timeout
        while any(r is None for r in reports):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeliveryFailed("?", "timed out waiting for delivery reports")
            self._producer.flush(min(remaining, 1.0))
        done = [r for r in reports if r is not None]
        if raise_on_error:
            for report in done:
                if report.error is not None:
                    raise DeliveryFailed(report.topic, report.error)
        return done

    def produce(self, record: OutgoingRecord, on_report: Callable[[DeliveryReport], None]) -> None:
        """Produce one record without waiting; `on_report` receives its delivery report in
        whichever thread calls `poll`/`flush` next (for callers that wait asynchronously)."""
        started = time.monotonic()
        topic = record.topic
        timer = _produce_timer(topic)

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            timer.observe(time.monotonic() - started)
            if err is not None:
                DELIVERY_ERRORS.labels(_topic_kind(topic), err.name()).inc()
                on_report(DeliveryReport(topic, -1, -1, err))
                return
            on_report(
                DeliveryReport(topic, _or_unknown(msg.partition()), _or_unknown(msg.offset()))
            )

        kwargs: dict[str, Any] = {
            "value": record.value,
            "key": record.key,
            "headers": list(record.headers),
            "on_delivery": on_delivery,
        }
        if record.partition is not None:
            kwargs["partition"] = record.partition
        while True:
            try:
                self._producer.produce(topic, **kwargs)
                return
            except BufferError:
                self._producer.poll(0.1)  # local queue full: let deliveries drain
            except KafkaException as exc:
                raise DeliveryFailed(topic, exc.args[0]) from exc

    def poll(self, timeout: float = 0.0) -> int:
        """Serve delivery reports (runs `produce` callbacks); returns how many were served."""
        return int(self._producer.poll(timeout))

    def flush(self, timeout: float = 30.0) -> None:
        """Wait for outstanding deliveries (call on shutdown)."""
        self._producer.flush(timeout)

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> ReliableProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _or_unknown(value: int | None) -> int:
    """librdkafka reports partition/offset as optional; -1 means "not known"."""
    return -1 if value is None else value
