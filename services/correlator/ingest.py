"""Brings every agency source topic into the correlator's inboxes.

faust-streaming cannot subscribe by pattern (its aiokafka driver says so: "pattern does
not work"), yet a new municipality's topic must be picked up without a restart. So this
thin stage uses librdkafka's regex subscription (`^events\\..+`): decode -> route ->
produce to the inboxes -> commit. It also advances the backbone's event-time clock: when
a batch holds a later `occurred_at` than seen so far, a tick goes to every partition of
both inboxes (rule 6: the clock reaches every partition).

Rules: docs/correlation.md#rule-6, docs/correlation.md#rule-8.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from correlator.domain.clock import advance
from correlator.domain.events import ClockTick, NotAnAgencyEvent, SourceEvent
from correlator.domain.handlers import Outgoing, route
from correlator.errors import CorrelatorError
from correlator.topology import INBOXES, TABLES, changelog_topic, inbox_topic
from correlator.wire import envelope
from ketenbus.agencies import SOURCE_TOPIC_PATTERN, agency_of_topic
from ketenbus.contracts.codec import Codec, CodecError, get_codec
from ketenbus.deadletter import dead_letter
from ketenbus.kafka_clients import client_config
from ketenbus.logging import get_logger
from ketenbus.metrics import DEADLETTERS, EVENTS_CORRELATED, INGEST_ALIVE, INGEST_RESTARTS
from ketenbus.producer import OutgoingRecord
from ketenbus.settings import Settings

log = get_logger("correlator.ingest")


#: While events stream in, the clock is broadcast at most once per hour of event time;
#: once the stream pauses, the exact clock is sent. Stalling is a matter of 30 days.
TICK_EVERY_MS = 3600 * 1000

#: Records routed per batch (one flush and one commit each), and how long to wait for
#: the first record of a batch before looking whether the stream paused.
BATCH = 500
POLL_WAIT_S = 0.5

#: Consumer restarts are counted over this many seconds (settings.correlator_ingest_restarts).
RESTART_WINDOW_S = 60.0


class IngestError(CorrelatorError, RuntimeError):
    """The inboxes did not acknowledge a batch; its offsets stay uncommitted."""


class IngestGaveUp(CorrelatorError, RuntimeError):
    """The consumer kept failing; the worker must be restarted (its /healthz says 503)."""


def _reason(exc: Exception) -> str:
    """A metric label for why the consumer restarted: the Kafka error name, or the type."""
    if isinstance(exc, KafkaException) and isinstance(exc.args[0], KafkaError):
        return str(exc.args[0].name())
    return type(exc).__name__


class AgencyMismatch(CorrelatorError, ValueError):
    """An event names another agency than the topic it was published on."""


class InternalTopicsRefused(CorrelatorError):
    """The broker kept refusing the worker's principal to create its internal topics."""


#: How long a refused creation of the internal topics is retried (ACLs propagating).
REFUSED_RETRY_S = 60.0
_AUTHORIZATION_FAILED = (
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
)


def create_internal_topics(settings: Settings) -> int:
    """The inboxes, table changelogs and faust's leader topic exist before the faust worker
    starts (idempotent); returns their replication factor (3 on a cluster, else 1).

    A worker that subscribes to a missing topic does not see it for minutes, and with
    auto-creation off a write to a missing changelog waits forever.
    """
    admin = AdminClient(client_config(settings))
    replicas = min(3, len(admin.list_topics(timeout=10).brokers))
    inboxes = [
        NewTopic(
            inbox_topic(settings, inbox),
            num_partitions=settings.correlator_partitions,
            replication_factor=replicas,
        )
        for inbox in INBOXES
    ]
    changelogs = [
        NewTopic(
            changelog_topic(settings, table),
            num_partitions=settings.correlator_partitions,
            replication_factor=replicas,
            config={"cleanup.policy": "compact"},
        )
        for table in TABLES
    ]
    # faust elects its assignment leader through this topic; on a cluster it must survive
    # the loss of a broker like the others (faust would create it with one replica).
    leader = NewTopic(
        f"{settings.correlator_app_id}-__assignor-__leader",
        num_partitions=1,
        replication_factor=replicas,
    )
    pending = [*inboxes, *changelogs, leader]
    deadline = time.monotonic() + REFUSED_RETRY_S
    while pending:
        refused = []
        for topic, future in admin.create_topics(pending).items():
            try:
                future.result()
            except KafkaException as exc:
                code = exc.args[0].code()
                if code in _AUTHORIZATION_FAILED:
                    refused.append(topic)
                    continue
                if code != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
            log.info("internal_topic_ready", topic=topic)
        pending = [new for new in pending if new.topic in refused]
        if pending and time.monotonic() > deadline:
            raise InternalTopicsRefused(
                f"the broker refuses principal {settings.kafka_principal!r} to create"
                f" {len(pending)} internal topics for {REFUSED_RETRY_S:g} s: are topics.yaml's"
                " ACLs applied (`ketenbus topics apply`)?"
            )
        if pending:
            # new ACLs reach a broker's authorizer a moment after the controller took them
            log.warning("internal_topics_refused_retrying", topics=len(pending))
            time.sleep(1.0)
    return replicas


#: Why a source record is no agency event (it goes to `deadletter` instead).
REFUSED = (CodecError, NotAnAgencyEvent, AgencyMismatch, KeyError)


def decode_event(codec: Codec, message: Message) -> SourceEvent:
    """The agency event of a source record; raises one of REFUSED when it is none (also
    the offline rebuild's decoder, so both read the source topics alike)."""
    decoded = codec.decode(message.value())
    event = SourceEvent.from_avro(decoded.schema, decoded.record)
    owner = agency_of_topic(message.topic() or "")
    if owner != event.agency:
        raise AgencyMismatch(f"event of {event.agency} on {message.topic()}")
    return event


def refusal(message: Message, exc: Exception) -> tuple[str, OutgoingRecord]:
    """The reason (a metric label) and the dead-letter record of a refused source record."""
    reason = getattr(exc, "reason", type(exc).__name__)
    record = dead_letter(
        message.value(),
        source=f"correlator:{message.topic()}/{message.partition()}/{message.offset()}",
        reason=reason,
        exception=exc,
        message=str(exc),
        key=message.key(),
    )
    return reason, record


class Ingest:
    """decode -> route -> produce -> commit, in a background thread of the worker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.codec = get_codec()
        self.clock = 0
        self.skew_ms = settings.clock_skew_seconds * 1000
        self._ticked = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._errors: list[KafkaError] = []
        common = client_config(settings)
        self._consumer_config = {
            **common,
            "group.id": settings.correlator_group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "topic.metadata.refresh.interval.ms": 2000,
            "partition.assignment.strategy": "cooperative-sticky",
        }
        self.consumer = Consumer(self._consumer_config)
        # murmur2_random = the Java/aiokafka partitioner, so a key reaches the same
        # partition whether this stage or a faust agent sends it.
        self.producer = Producer(
            {
                **common,
                "enable.idempotence": True,
                "linger.ms": 5,
                "partitioner": "murmur2_random",
                "delivery.report.only.error": True,  # a failure still fails the batch
            }
        )

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="correlator-ingest", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # the thread's boundary: say so loudly, /healthz turns 503
            INGEST_ALIVE.set(0)
            log.exception("ingest_died", error=str(exc), kind=type(exc).__name__)
            raise

    def _run(self) -> None:
        restarts: deque[float] = deque()
        while not self._stop.is_set():
            self.consumer.subscribe([SOURCE_TOPIC_PATTERN])
            INGEST_ALIVE.set(1)
            log.info("ingest_started", pattern=SOURCE_TOPIC_PATTERN)
            try:
                while not self._stop.is_set():
                    batch = self._next_batch()
                    if batch:
                        self.process(batch)
                    else:
                        self._catch_up()
            except (IngestError, KafkaException) as exc:
                # Nothing of the failed batch was committed (a commit refused during a
                # rebalance: ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS):
                # start over from the committed offsets with a fresh consumer. Its records
                # are routed again, which changes nothing (rule 8), by whichever worker
                # owns their partition now.
                now = time.monotonic()
                restarts.append(now)
                while restarts and restarts[0] < now - RESTART_WINDOW_S:
                    restarts.popleft()
                INGEST_RESTARTS.labels(reason=_reason(exc)).inc()
                if len(restarts) > self.settings.correlator_ingest_restarts:
                    raise IngestGaveUp(
                        f"{len(restarts)} consumer restarts within {RESTART_WINDOW_S:.0f}s;"
                        f" last: {exc}"
                    ) from exc
                log.warning("ingest_consumer_restarted", reason=_reason(exc), error=str(exc))
                self._close_consumer()
                self._stop.wait(min(5.0, 0.5 * len(restarts)))
                self.consumer = Consumer(self._consumer_config)
                continue
        INGEST_ALIVE.set(0)
        self._close_consumer()
        self.producer.flush(10)

    def _next_batch(self) -> list[Message]:
        """Up to BATCH records: wait (at most POLL_WAIT_S) for the first one only, then take
        what the consumer already holds. `consume(n, timeout)` waits the whole timeout
        unless n records come: half a second of latency per batch at a modest rate."""
        first = self.consumer.poll(POLL_WAIT_S)
        if first is None:
            return []
        return [first, *self.consumer.consume(BATCH - 1, timeout=0)]

    def _close_consumer(self) -> None:
        try:
            self.consumer.close()
        except (KafkaException, RuntimeError) as exc:  # closing a fenced member may fail
            log.warning("ingest_consumer_close_failed", error=str(exc))

    def process(self, batch: list[Message]) -> None:
        """One batch: everything produced and acknowledged before its offsets commit."""
        latest = self.clock
        wall_ms = int(time.time() * 1000)
        for message in batch:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consume_failed", error=str(error))
                continue
            event = self._decode(message)
            if event is None:
                continue
            EVENTS_CORRELATED.labels(event.type).inc()
            latest = advance(latest, event.occurred_at, wall_ms=wall_ms, skew_ms=self.skew_ms)
            self._send(route(event))
        self.clock = latest
        if self.clock >= self._ticked + TICK_EVERY_MS:
            self._tick()
        self._flush()
        if self._ticked >= self.clock:
            # Offsets are committed only once the clock they carry has reached every
            # partition: after a crash the uncommitted events are routed again (no-ops)
            # and their clock is sent then.
            self._commit()

    def _catch_up(self) -> None:
        """The stream paused: send the exact clock and commit what it covers."""
        if self.clock > self._ticked:
            self._tick()
            self._flush()
            self._commit()

    def _commit(self) -> None:
        try:
            self.consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                raise

    def _flush(self) -> None:
        self.producer.flush(30)
        if self._errors:
            errors, self._errors = self._errors, []
            raise IngestError(f"{len(errors)} inbox deliveries failed: {errors[0]}")

    def _decode(self, message: Message) -> SourceEvent | None:
        try:
            return decode_event(self.codec, message)
        except REFUSED as exc:
            reason, record = refusal(message, exc)
            DEADLETTERS.labels("correlator", reason).inc()
            log.warning(
                "event_dead_lettered",
                topic=message.topic(),
                partition=message.partition(),
                offset=message.offset(),
                reason=reason,
            )
            self.producer.produce(
                record.topic,
                value=record.value,
                key=record.key,
                headers=list(record.headers),
                on_delivery=self._on_delivery,
            )
            return None

    def _send(self, targets: Iterable[Outgoing], partition: int | None = None) -> None:
        for out in targets:
            topic = inbox_topic(self.settings, out.inbox)
            key, value = out.key.encode(), envelope(out.message)
            if partition is None:
                self.producer.produce(topic, value, key, on_delivery=self._on_delivery)
            else:
                self.producer.produce(
                    topic, value, key, partition=partition, on_delivery=self._on_delivery
                )
            self.producer.poll(0)

    def _tick(self) -> None:
        """Send the clock to every partition of both inboxes."""
        tick = ClockTick(self.clock)
        for inbox in INBOXES:
            for partition in range(self.settings.correlator_partitions):
                self._send([Outgoing(inbox, "__clock__", tick)], partition=partition)
        self._ticked = self.clock

    def _on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self._errors.append(err)
