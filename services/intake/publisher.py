"""Publishing intake records: accepted ones to their source topic (acknowledged by the
broker before we say so), refused ones to the dead-letter topic, both counted and logged.

Nothing accepted is dropped: `submit` returns only after the broker's ack (acks=all,
idempotent producer); when the broker does not acknowledge, `DeliveryFailed` reaches the
caller (HTTP 503 / CLI error) and the record counts as not accepted.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from intake.base import IntakeItem
from intake.core import Intake, PreparedEvent
from intake.errors import RecordRejected
from intake.redact import redact, scrub_text
from intake.topics import TopicEnsurer
from ketenbus.deadletter import dead_letter
from ketenbus.logging import get_logger
from ketenbus.metrics import DEADLETTERS, RECORDS_ACCEPTED, RECORDS_REJECTED
from ketenbus.producer import DeliveryFailed, DeliveryReport, OutgoingRecord, ReliableProducer

log = get_logger("adapter")
CHUNK = 500  # records per send_many: bounds memory of a large file import
ACK_TIMEOUT_S = 75.0  # > the producer's message.timeout.ms: librdkafka reports first


@dataclass(frozen=True)
class Accepted:
    event_id: str
    agency: str
    type: str
    key: str
    topic: str
    partition: int
    offset: int
    line: int | None = None


@dataclass(frozen=True)
class Rejected:
    reason: str
    message: str
    errors: list[str]
    status: int
    agency: str | None = None
    type: str | None = None
    line: int | None = None

    def describe(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.reason}: {self.message}"


@dataclass
class Outcome:
    """What happened to a batch (an HTTP batch or an import file)."""

    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    def extend(self, other: Outcome) -> None:
        self.accepted.extend(other.accepted)
        self.rejected.extend(other.rejected)


def _chunks(items: Iterable[IntakeItem], size: int) -> Iterator[list[IntakeItem]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


class IntakePublisher:
    """Intake + producer + topic provisioning: the one path every record takes."""

    def __init__(self, intake: Intake, producer: ReliableProducer, topics: TopicEnsurer) -> None:
        self.intake = intake
        self.producer = producer
        self.topics = topics
        self._poller: threading.Thread | None = None
        self._stop_polling = threading.Event()
        self._poller_lock = threading.Lock()

    def submit(
        self, item: IntakeItem, *, source: str, expected_agency: str | None = None
    ) -> Accepted:
        """Publish one record; raises `RecordRejected` (after dead-lettering it)."""
        try:
            prepared = self.intake.prepare(item, expected_agency=expected_agency)
        except RecordRejected as exc:
            self._dead_letter([(item, exc)], source)
            raise
        self.topics.ensure_for(prepared.record.agency)
        report = self.producer.send(prepared.outgoing)
        return self._accepted(prepared, report, item.line)

    async def submit_async(
        self, item: IntakeItem, *, source: str, expected_agency: str | None = None
    ) -> Accepted:
        """`submit` for an event loop: many requests wait for their acks concurrently."""
        try:
            prepared = self.intake.prepare(item, expected_agency=expected_agency)
        except RecordRejected as exc:
            await asyncio.to_thread(self._dead_letter, [(item, exc)], source)
            raise
        agency = prepared.record.agency
        if not self.topics.known(agency):
            await asyncio.to_thread(self.topics.ensure_for, agency)
        report = await self._acknowledged(prepared.outgoing)
        if report.error is not None:
            raise DeliveryFailed(report.topic, report.error)
        return self._accepted(prepared, report, item.line)

    async def _acknowledged(self, outgoing: OutgoingRecord) -> DeliveryReport:
        self._ensure_poller()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[DeliveryReport] = loop.create_future()

        def on_report(report: DeliveryReport) -> None:  # runs in the polling thread
            loop.call_soon_threadsafe(_resolve, future, report)

        self.producer.produce(outgoing, on_report)
        return await asyncio.wait_for(future, ACK_TIMEOUT_S)

    def _ensure_poller(self) -> None:
        if self._poller is not None:
            return
        with self._poller_lock:
            if self._poller is None:
                self._stop_polling.clear()
                self._poller = threading.Thread(
                    target=self._poll, name="delivery-reports", daemon=True
                )
                self._poller.start()

    def _poll(self) -> None:
        while not self._stop_polling.is_set():
            self.producer.poll(0.05)

    def close(self) -> None:
        """Stop serving delivery reports and flush what is outstanding."""
        self._stop_polling.set()
        if self._poller is not None:
            self._poller.join(5)
            self._poller = None
        self.producer.flush()

    def submit_many(
        self,
        items: Iterable[IntakeItem],
        *,
        source: str,
        expected_agency: str | None = None,
        chunk_size: int = CHUNK,
    ) -> Outcome:
        """Publish many records in order; bad ones are dead-lettered and reported."""
        outcome = Outcome()
        for chunk in _chunks(items, chunk_size):
            prepared: list[tuple[IntakeItem, PreparedEvent]] = []
            refused: list[tuple[IntakeItem, RecordRejected]] = []
            for item in chunk:
                try:
                    prepared.append(
                        (item, self.intake.prepare(item, expected_agency=expected_agency))
                    )
                except RecordRejected as exc:
                    refused.append((item, exc))
            for agency in {p.record.agency for _, p in prepared}:
                self.topics.ensure_for(agency)
            reports = self.producer.send_many([p.outgoing for _, p in prepared])
            outcome.accepted.extend(
                self._accepted(p, r, item.line)
                for (item, p), r in zip(prepared, reports, strict=True)
            )
            outcome.rejected.extend(self._dead_letter(refused, source))
        return outcome

    def _accepted(
        self, prepared: PreparedEvent, report: DeliveryReport, line: int | None
    ) -> Accepted:
        record = prepared.record
        RECORDS_ACCEPTED.labels(record.agency, record.type).inc()
        log.info(
            "record_published",
            event_id=prepared.event_id,
            agency=record.agency,
            type=record.type,
            topic=report.topic,
            partition=report.partition,
            offset=report.offset,
        )
        return Accepted(
            event_id=prepared.event_id,
            agency=record.agency,
            type=record.type,
            key=record.key,
            topic=report.topic,
            partition=report.partition,
            offset=report.offset,
            line=line,
        )

    def _dead_letter(
        self, refused: list[tuple[IntakeItem, RecordRejected]], source: str
    ) -> list[Rejected]:
        if not refused:
            return []
        self.topics.ensure_deadletter()
        letters: list[OutgoingRecord] = []
        rejected: list[Rejected] = []
        for item, exc in refused:
            value, redacted = redact(item.original, self.intake.pseudonymiser)
            message = scrub_text(exc.message)
            errors = [scrub_text(str(e)) for e in exc.errors]
            letters.append(
                dead_letter(
                    value,
                    source=source,
                    reason=exc.reason,
                    exception=exc,
                    message=message,
                    key=exc.agency,
                    line=item.line,
                    agency=exc.agency,
                    type=exc.type,
                    redacted=redacted,
                )
            )
            RECORDS_REJECTED.labels(
                exc.agency or "unknown", exc.type or "unknown", exc.reason
            ).inc()
            DEADLETTERS.labels(source.split(":", 1)[0], exc.reason).inc()
            log.warning(
                "record_rejected",
                source=source,
                line=item.line,
                agency=exc.agency,
                type=exc.type,
                reason=exc.reason,
                errors=errors,
            )
            rejected.append(
                Rejected(
                    reason=exc.reason,
                    message=message,
                    errors=errors,
                    status=exc.status,
                    agency=exc.agency,
                    type=exc.type,
                    line=item.line,
                )
            )
        self.producer.send_many(letters)
        return rejected


def _resolve(future: asyncio.Future[DeliveryReport], report: DeliveryReport) -> None:
    if not future.done():
        future.set_result(report)
