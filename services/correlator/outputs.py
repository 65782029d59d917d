"""The correlator agents' outputs: case events, notifications, inbox forwards and the
records of their tables' changelogs.

Produced through one librdkafka producer per agent (idempotent, acks=all): `produce`
only queues (a C call, batched by librdkafka), and a batch waits for every delivery
once, in one thread hop, before its aggregates are written. Going through faust's
aiokafka producer cost ~50 us of Python per message and a round trip per awaited send.

`murmur2_random` is the Java/aiokafka partitioner, so a key forwarded here lands on the
same inbox partition as when the ingest stage (also librdkafka) or faust sends it.
"""

from __future__ import annotations

import asyncio
import threading

from confluent_kafka import KafkaError, Message, Producer

from correlator.errors import CorrelatorError
from ketenbus.kafka_clients import client_config
from ketenbus.settings import Settings


class OutputsFailed(CorrelatorError, RuntimeError):
    """Some outputs of a batch were not acknowledged; the batch must not be stored."""


class Outputs:
    """Queue outputs now, wait for all of them once per batch."""

    def __init__(self, settings: Settings, name: str) -> None:
        self._producer = Producer(
            client_config(  # as the worker's own principal (KETENBUS_KAFKA_PRINCIPAL)
                settings,
                client_id=f"{settings.correlator_app_id}-{name}",
                enable_idempotence=True,
                linger_ms=2,
                partitioner="murmur2_random",
                # A Python callback per acknowledged output (~10 per source event) cost
                # more than producing it; failures still call back, and fail the batch.
                delivery_report_only_error=True,
            )
        )
        self._errors: list[KafkaError] = []
        self._lock = threading.Lock()  # delivery callbacks run in the flushing thread

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None = None,
    ) -> None:
        while True:
            try:
                if partition is None:
                    self._producer.produce(topic, value, key, on_delivery=self._on_delivery)
                else:
                    self._producer.produce(
                        topic, value, key, partition=partition, on_delivery=self._on_delivery
                    )
                return
            except BufferError:  # the local queue is full: let librdkafka drain it
                self._producer.poll(0.05)

    async def flush(self, timeout: float = 60.0) -> None:
        """Wait until every queued output is acknowledged (acks=all) or raise."""
        if len(self._producer):
            left = await asyncio.to_thread(self._producer.flush, timeout)
            if left:
                raise OutputsFailed(f"{left} outputs not acknowledged within {timeout:.0f} s")
        else:
            self._producer.poll(0)  # serve delivery reports of the last flush
        with self._lock:
            errors, self._errors = self._errors, []
        if errors:
            raise OutputsFailed(f"{len(errors)} outputs failed: {errors[0]}")

    def close(self, timeout: float = 10.0) -> None:
        self._producer.flush(timeout)

    def _on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            with self._lock:
                self._errors.append(err)
