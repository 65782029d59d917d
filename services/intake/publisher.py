"""Publishing intake records: accepted ones to their source topic (acknowledged by the
broker before we say so), refused ones to the dead-letter topic, both counted and logged.

Nothing accepted is dropped: `submit` returns only after the broker's ack (acks=all,
idempotent producer); when the broker does not acknowledge, `DeliveryFailed` reaches the
caller (HTTP 503 / CLI error) and the record counts as not accepted. Every record is
produced as its agency's Kafka principal (`ProducerPool`). A re-sent ref is checked
against the content it was first published with (`intake.fingerprints`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from typing import Any

from intake.base import IntakeItem
from intake.core import Intake, PreparedEvent
from intake.errors import RecordRejected, RefConflict
from intake.fingerprints import Claim, FingerprintStore
from intake.redact import TOO_LARGE_DROPPED, redact, scrub_text
from intake.topics import TopicEnsurer
from ketenbus.agencies import principal_of
from ketenbus.deadletter import dead_letter
from ketenbus.kafka_clients import client_config
from ketenbus.logging import get_logger
from ketenbus.metrics import DEADLETTERS, RECORDS_ACCEPTED, RECORDS_REJECTED
from ketenbus.producer import DeliveryFailed, DeliveryReport, OutgoingRecord, ReliableProducer
from ketenbus.security.errors import CredentialsMissing
from ketenbus.settings import Settings

log = get_logger("adapter")
CHUNK = 500  # records prepared and produced together
#: linger.ms of a file import: a file is a stream, its records share produce requests
#: (with linger 0 librdkafka sends many small requests: more CPU in its broker thread
#: and in the broker, for nothing, as nobody waits for one record)
BULK_LINGER_MS = 5.0
#: records produced but not yet acknowledged, at most, in `submit_many`: the next chunks
#: are prepared while the broker acknowledges the earlier ones (bounds a file import's
#: memory, and how much a broker failure leaves undecided)
WINDOW = 10_000
ACK_TIMEOUT_S = 75.0  # > the producer's message.timeout.ms: librdkafka reports first


class ProducerPool:
    """The producers of one intake process, made through `client_config`.

    `per_agency` (`ketenbus publish`, run by an agency with its own credentials): each
    record is produced as its agency's principal (`principal_of(agency)`), with the
    credentials in `<secrets dir>/<principal>.properties`; an agency whose credentials are
    not there goes as the process's own principal (the broker's ACLs decide either way).
    Otherwise (an agency service) everything goes as the process's own principal
    (`ketenbus-intake-<service>`), which the ACLs let write its agencies' topics.
    Producers are keyed by their configuration: equal configurations share one producer.
    """

    def __init__(
        self, settings: Settings, *, per_agency: bool = False, linger_ms: float | None = None
    ) -> None:
        self.settings = settings
        self.per_agency = per_agency
        #: librdkafka linger.ms (None: KETENBUS_INTAKE_LINGER_MS, the HTTP services' own)
        self.linger_ms = settings.intake_linger_ms if linger_ms is None else linger_ms
        self._by_config: dict[tuple[tuple[str, str], ...], ReliableProducer] = {}
        self._by_principal: dict[str | None, ReliableProducer] = {}
        self._by_agency: dict[str | None, ReliableProducer] = {}
        self._lock = threading.Lock()

    def principal_for(self, agency: str | None) -> str | None:
        """The principal a record of `agency` is produced as (None: the process's own)."""
        if not self.per_agency or agency is None:
            return None
        principal = principal_of(agency)
        try:
            client_config(self.settings, principal=principal)
        except CredentialsMissing:
            return None
        return principal

    def config_for(self, principal: str | None) -> dict[str, Any]:
        return client_config(self.settings, principal=principal)

    def for_principal(self, principal: str | None) -> ReliableProducer:
        found = self._by_principal.get(principal)
        if found is not None:
            return found
        with self._lock:
            config = self.config_for(principal)
            key = tuple(sorted((k, str(v)) for k, v in config.items()))
            producer = self._by_config.get(key)
            if producer is None:
                linger: dict[str, Any] = {"linger.ms": self.linger_ms}
                producer = ReliableProducer(settings=self.settings, principal=principal, **linger)
                self._by_config[key] = producer
            self._by_principal[principal] = producer
            return producer

    def for_agency(self, agency: str | None) -> ReliableProducer:
        """The producer for records of `agency` (None: the process's own principal)."""
        key = agency if self.per_agency else None
        found = self._by_agency.get(key)
        if found is None:
            found = self._by_agency[key] = self.for_principal(self.principal_for(agency))
        return found

    @property
    def producers(self) -> list[ReliableProducer]:
        return list(self._by_config.values())

    def poll(self, timeout: float = 0.0) -> int:
        producers = self.producers
        if not producers:
            time.sleep(timeout)
            return 0
        # poll() returns as soon as a report arrives: no added latency for one producer
        share = timeout / len(producers)
        return sum(p.poll(share) for p in producers)

    def flush(self, timeout: float = 30.0) -> None:
        for producer in self.producers:
            producer.flush(timeout)


class Acks:
    """The delivery reports of a group of produced records, in produce order; `done` is
    set when the last one arrived (in whichever thread serves the reports)."""

    def __init__(self, count: int) -> None:
        self.reports: list[DeliveryReport | None] = [None] * count
        self._missing = count
        self._lock = threading.Lock()
        self.done = threading.Event()
        if count == 0:
            self.done.set()

    def slot(self, index: int) -> Callable[[DeliveryReport], None]:
        return partial(self._arrived, index)

    def _arrived(self, index: int, report: DeliveryReport) -> None:
        self.reports[index] = report
        with self._lock:
            self._missing -= 1
            if self._missing == 0:
                self.done.set()

    def first_error(self) -> DeliveryReport | None:
        return next((r for r in self.reports if r is not None and r.error is not None), None)

    def delivered(self) -> list[DeliveryReport]:
        return [r for r in self.reports if r is not None]


@dataclass
class _Chunk:
    """Records of `submit_many` on their way: produced, not yet acknowledged."""

    prepared: list[tuple[IntakeItem, PreparedEvent, Claim]]
    events: Acks
    refused: list[tuple[IntakeItem, RecordRejected]]
    rejected: list[Rejected]
    letters: Acks
    #: every event acknowledged: its claims stand whatever happens next
    settled: bool = False


@dataclass(frozen=True)
class Accepted:
    event_id: str
    agency: str
    type: str
    key: str
    topic: str
    partition: int
    offset: int
    ref: str
    line: int | None = None

    def placement(self) -> dict[str, Any]:
        """Where the event went, for log lines."""
        return {
            "event_id": self.event_id,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
        }


@dataclass(frozen=True)
class Rejected:
    reason: str
    message: str
    errors: list[dict[str, str]]
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
    #: the refusals themselves, in the order of `rejected`
    errors: list[RecordRejected] = field(default_factory=list)

    def extend(self, other: Outcome) -> None:
        self.accepted.extend(other.accepted)
        self.rejected.extend(other.rejected)
        self.errors.extend(other.errors)


def _chunks(items: Iterable[IntakeItem], size: int) -> Iterator[list[IntakeItem]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


class IntakePublisher:
    """Intake + producers + topic provisioning + ref fingerprints: the one path every
    record takes."""

    def __init__(
        self,
        intake: Intake,
        producers: ProducerPool,
        topics: TopicEnsurer,
        fingerprints: FingerprintStore | None = None,
    ) -> None:
        self.intake = intake
        self.producers = producers
        self.topics = topics
        self.fingerprints = fingerprints
        self._poller: threading.Thread | None = None
        self._stop_polling = threading.Event()
        self._poller_lock = threading.Lock()

    @property
    def producer(self) -> ProducerPool:
        """The producers (`flush()` them before exit)."""
        return self.producers

    # -- preparing -----------------------------------------------------------------

    def _prepare(
        self,
        item: IntakeItem,
        expected_agency: str | None,
        allowed_agencies: Collection[str] | None,
    ) -> tuple[PreparedEvent, Claim]:
        prepared = self.intake.prepare(
            item, expected_agency=expected_agency, allowed_agencies=allowed_agencies
        )
        if self.fingerprints is None:
            return prepared, Claim.NEW
        self.fingerprints.ensure_loaded()
        if not self.fingerprints.enabled:
            return prepared, Claim.SAME  # nothing to check against, nothing to write
        record = prepared.record
        claim = self.fingerprints.claim(record.agency, record.ref, prepared.fingerprint)
        if claim is Claim.CONFLICT:
            raise RefConflict(
                "this ref was published before with other content (a ref is immutable:"
                " send a correction under a new ref)",
                agency=record.agency,
                type=record.type,
            )
        return prepared, claim

    def _release(self, prepared: PreparedEvent, claim: Claim) -> None:
        if self.fingerprints is not None and claim is Claim.NEW:
            record = prepared.record
            self.fingerprints.release(record.agency, record.ref, prepared.fingerprint)

    def _fingerprint_records(
        self, done: list[tuple[PreparedEvent, Claim]]
    ) -> list[tuple[str | None, OutgoingRecord]]:
        if self.fingerprints is None:
            return []
        # written as the process's own principal (an agency writes only its events topic)
        return [
            (None, self.fingerprints.outgoing(p.record.agency, p.record.ref, p.fingerprint))
            for p, claim in done
            if claim is Claim.NEW
        ]

    # -- one record ----------------------------------------------------------------

    def submit(
        self,
        item: IntakeItem,
        *,
        source: str,
        expected_agency: str | None = None,
        allowed_agencies: Collection[str] | None = None,
    ) -> Accepted:
        """Publish one record; raises `RecordRejected` (after dead-lettering it)."""
        outcome = self.submit_many(
            [item],
            source=source,
            expected_agency=expected_agency,
            allowed_agencies=allowed_agencies,
        )
        if outcome.rejected:
            raise outcome.errors[0]
        return outcome.accepted[0]

    async def submit_async(
        self,
        item: IntakeItem,
        *,
        source: str,
        expected_agency: str | None = None,
        allowed_agencies: Collection[str] | None = None,
        log_published: bool = True,
    ) -> Accepted:
        """`submit` for an event loop: many requests wait for their acks concurrently.
        `log_published=False`: the caller logs the decision itself (the HTTP audit line)."""
        if self.fingerprints is not None and not self.fingerprints.loaded:
            await asyncio.to_thread(self.fingerprints.ensure_loaded)
        try:
            prepared, claim = self._prepare(item, expected_agency, allowed_agencies)
        except RecordRejected as exc:
            await asyncio.to_thread(self._dead_letter, [(item, exc)], source)
            raise
        agency = prepared.record.agency
        try:
            if not self.topics.known(agency):
                await asyncio.to_thread(self.topics.ensure_for, agency)
            report = await self._acknowledged(agency, prepared.outgoing)
            if report.error is not None:
                raise DeliveryFailed(report.topic, report.error)
        except BaseException:
            self._release(prepared, claim)
            raise
        for owner, record in self._fingerprint_records([(prepared, claim)]):
            self.producers.for_agency(owner).produce(record, _log_failed_fingerprint)
        return self._accepted(prepared, report, item.line, log_published)

    async def _acknowledged(self, agency: str, outgoing: OutgoingRecord) -> DeliveryReport:
        self._ensure_poller()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[DeliveryReport] = loop.create_future()

        def on_report(report: DeliveryReport) -> None:  # runs in the polling thread
            loop.call_soon_threadsafe(_resolve, future, report)

        self.producers.for_agency(agency).produce(outgoing, on_report)
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
        """Serve delivery reports until `close()`: every wait of this publisher relies on
        this thread, so a failing callback is logged, never the end of it."""
        while not self._stop_polling.is_set():
            try:
                self.producers.poll(0.05)
            except Exception as exc:
                log.error("delivery_report_failed", error=type(exc).__name__)

    def close(self) -> None:
        """Stop serving delivery reports and flush what is outstanding."""
        self._stop_polling.set()
        if self._poller is not None:
            self._poller.join(5)
            self._poller = None
        self.producers.flush()
        if self.fingerprints is not None:
            self.fingerprints.close()

    # -- many records --------------------------------------------------------------

    def submit_many(
        self,
        items: Iterable[IntakeItem],
        *,
        source: str,
        expected_agency: str | None = None,
        allowed_agencies: Collection[str] | None = None,
        chunk_size: int = CHUNK,
        log_published: bool = True,
    ) -> Outcome:
        """Publish many records in order; bad ones are dead-lettered and reported, each
        good one is published (`Outcome` says exactly which).

        Chunks are pipelined: while the broker acknowledges one chunk the next ones are
        prepared and produced (at most `WINDOW` records unacknowledged); a chunk counts
        only once every record of it is acknowledged, and its fingerprints are written
        after that. A record the broker does not acknowledge raises `DeliveryFailed`
        (the claims of every unfinished chunk are released). `log_published=False`: the
        caller logs each decision itself (the HTTP audit lines)."""
        outcome = Outcome()
        in_flight: deque[_Chunk] = deque()
        waiting = 0
        fingerprints: list[Acks] = []
        try:
            for items_of_chunk in _chunks(items, chunk_size):
                chunk = self._send_chunk(items_of_chunk, source, expected_agency, allowed_agencies)
                in_flight.append(chunk)
                waiting += len(chunk.prepared)
                while waiting > WINDOW:
                    # finished before it leaves `in_flight`: a failure releases its claims
                    fingerprints.append(self._finish_chunk(in_flight[0], outcome, log_published))
                    waiting -= len(in_flight.popleft().prepared)
            while in_flight:
                fingerprints.append(self._finish_chunk(in_flight[0], outcome, log_published))
                in_flight.popleft()
        except BaseException:
            for chunk in in_flight:
                for _, prepared, claim in [] if chunk.settled else chunk.prepared:
                    self._release(prepared, claim)
            raise
        for acks in fingerprints:
            self._fingerprints_stored(acks)
        return outcome

    def _send_chunk(
        self,
        items: list[IntakeItem],
        source: str,
        expected_agency: str | None,
        allowed_agencies: Collection[str] | None,
    ) -> _Chunk:
        """Prepare (and claim) each record, produce the good ones and the dead letters of
        the bad ones; nothing is waited for."""
        prepared: list[tuple[IntakeItem, PreparedEvent, Claim]] = []
        refused: list[tuple[IntakeItem, RecordRejected]] = []
        for item in items:
            try:
                p, claim = self._prepare(item, expected_agency, allowed_agencies)
            except RecordRejected as exc:
                refused.append((item, exc))
                continue
            prepared.append((item, p, claim))
        try:
            for agency in {p.record.agency for _, p, _ in prepared}:
                self.topics.ensure_for(agency)
            events = self._produce([(p.record.agency, p.outgoing) for _, p, _ in prepared])
        except BaseException:
            for _, p, claim in prepared:
                self._release(p, claim)
            raise
        rejected, letters = self._dead_letters(refused, source)
        return _Chunk(prepared, events, refused, rejected, self._produce(letters))

    def _finish_chunk(self, chunk: _Chunk, outcome: Outcome, log_published: bool) -> Acks:
        """Wait for a chunk's acknowledgements and record its outcome; returns the acks
        of its fingerprints (produced now, after the events' acks)."""
        self._wait(chunk.events)
        failed = chunk.events.first_error()
        if failed is not None:
            raise DeliveryFailed(failed.topic, failed.error or "not acknowledged")
        chunk.settled = True
        stored = self._produce(self._fingerprint_records([(p, c) for _, p, c in chunk.prepared]))
        reports = chunk.events.delivered()
        outcome.accepted.extend(self._accepted_many(chunk.prepared, reports, log_published))
        self._wait(chunk.letters)
        failed = chunk.letters.first_error()
        if failed is not None:
            raise DeliveryFailed(failed.topic, failed.error or "not acknowledged")
        outcome.rejected.extend(chunk.rejected)
        outcome.errors.extend(exc for _, exc in chunk.refused)
        return stored

    def _fingerprints_stored(self, acks: Acks) -> None:
        """Fingerprints not stored are logged, not raised: the events are in."""
        try:
            self._wait(acks)
        except DeliveryFailed as exc:
            log.error("fingerprints_not_stored", records=len(acks.reports), error=str(exc))
            return
        failed = acks.first_error()
        if failed is not None:
            log.error("fingerprints_not_stored", records=len(acks.reports), error=str(failed.error))

    def _produce(self, records: list[tuple[str | None, OutgoingRecord]]) -> Acks:
        """Produce (agency, record) pairs, each as its agency, without waiting."""
        acks = Acks(len(records))
        if records:
            self._ensure_poller()
        for index, (agency, record) in enumerate(records):
            self.producers.for_agency(agency).produce(record, acks.slot(index))
        return acks

    def _wait(self, acks: Acks) -> None:
        """Block until every report of `acks` arrived (the poller thread serves them)."""
        if not acks.done.wait(ACK_TIMEOUT_S):
            raise DeliveryFailed("?", "timed out waiting for delivery reports")

    def refuse(self, item: IntakeItem, exc: RecordRejected, *, source: str) -> Rejected:
        """Dead-letter and count a record refused before it reached `submit` (e.g. an HTTP
        body cut off for its size)."""
        return self._dead_letter([(item, exc)], source)[0]

    def _accepted(
        self, prepared: PreparedEvent, report: DeliveryReport, line: int | None, log_it: bool
    ) -> Accepted:
        RECORDS_ACCEPTED.labels(prepared.record.agency, prepared.record.type).inc()
        return self._published(prepared, report, line, log_it)

    def _accepted_many(
        self,
        prepared: list[tuple[IntakeItem, PreparedEvent, Claim]],
        reports: list[DeliveryReport],
        log_it: bool,
    ) -> list[Accepted]:
        counts: Counter[tuple[str, str]] = Counter()
        accepted: list[Accepted] = []
        for (item, p, _), report in zip(prepared, reports, strict=True):
            counts[(p.record.agency, p.record.type)] += 1
            accepted.append(self._published(p, report, item.line, log_it))
        for (agency, kind), count in counts.items():  # one metric update per label set
            RECORDS_ACCEPTED.labels(agency, kind).inc(count)
        return accepted

    def _published(
        self, prepared: PreparedEvent, report: DeliveryReport, line: int | None, log_it: bool
    ) -> Accepted:
        record = prepared.record
        accepted = Accepted(
            event_id=prepared.event_id,
            agency=record.agency,
            type=record.type,
            key=record.key,
            topic=report.topic,
            partition=report.partition,
            offset=report.offset,
            ref=record.ref,
            line=line,
        )
        if log_it:
            log.info(
                "record_published", agency=record.agency, type=record.type, **accepted.placement()
            )
        return accepted

    def _dead_letter(
        self, refused: list[tuple[IntakeItem, RecordRejected]], source: str
    ) -> list[Rejected]:
        """Dead-letter refused records and wait for the broker's acknowledgement."""
        rejected, letters = self._dead_letters(refused, source)
        acks = self._produce(letters)
        self._wait(acks)
        failed = acks.first_error()
        if failed is not None:
            raise DeliveryFailed(failed.topic, failed.error or "not acknowledged")
        return rejected

    def _dead_letters(
        self, refused: list[tuple[IntakeItem, RecordRejected]], source: str
    ) -> tuple[list[Rejected], list[tuple[str | None, OutgoingRecord]]]:
        """The refusals (counted and logged) and their dead-letter records."""
        if not refused:
            return [], []
        self.topics.ensure_deadletter()
        letters: list[tuple[str | None, OutgoingRecord]] = []
        rejected: list[Rejected] = []
        for item, exc in refused:
            kept = item.payload if item.payload else item.original
            value: bytes | None = None
            redacted: str | None = TOO_LARGE_DROPPED
            if not item.too_large:
                value, redacted = redact(kept, self.intake.pseudonymiser, exc.errors)
            message = scrub_text(exc.message)
            errors = [
                {"field": scrub_text(e.field), "message": scrub_text(e.message)} for e in exc.errors
            ]
            letters.append(
                (
                    None,
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
                    ),
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
                errors=[f"{e['field']}: {e['message']}" for e in errors],
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
        return rejected, letters


def _log_failed_fingerprint(report: DeliveryReport) -> None:
    if report.error is not None:
        log.error("fingerprint_not_stored", error=str(report.error))


def _resolve(future: asyncio.Future[DeliveryReport], report: DeliveryReport) -> None:
    if not future.done():
        future.set_result(report)
