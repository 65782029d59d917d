"""`ketenbus rebuild`'s offline replay: what a worker replaying the source topics would
have left behind, without the worker (docs/correlation.md#rebuild).

After the reset (correlator.rebuild.reset), with no worker running:

1. note the end offset of every partition of every source topic (`events.*`) and read
   them up to there with consumers that join no group (librdkafka, big fetches; one per
   core, forked, sharing the partitions); each record is decoded as the ingest stage
   decodes it (`ingest.decode_event`); a record that is no agency event goes to
   `deadletter` again, as a worker would send it;
2. fold all events into every aggregate's final state (`correlator.replay`: the domain's
   own handlers, rule 8) at the backbone clock those events give (rule 6);
3. write what the worker would have written (one process per core, sharing the keys),
   and wait until the broker acknowledged all of it: every table row's changelog record
   (`correlator.tables`: faust's encoding, on the key's inbox partition), each
   partition's clock, every case's final state on
   `cases.events` (a tombstone for a BAG-key case merged into its address) and, with
   `notifications`, one notification per party of each case's final state;
4. commit the ingest group's offsets at the end offsets read and the agents' group's at
   the inbox ends, so a worker started afterwards recovers the tables from their
   changelogs and goes on with whatever was published since, as after a live replay.

A failure before the commit leaves the groups without offsets: run the rebuild again (it
starts with the reset). Nothing here joins a group, so it cannot be fenced.

Rules: docs/correlation.md#rules, docs/correlation.md#rebuild.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import re
import resource
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from resource import RUSAGE_CHILDREN, RUSAGE_SELF

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from correlator.domain.clock import advance
from correlator.domain.events import SourceEvent
from correlator.ingest import REFUSED, create_internal_topics, decode_event, refusal
from correlator.rebuild import RebuildFailed
from correlator.replay import Folded, final_rows, fold
from correlator.tables import changelog_record, clock_key, partition_of
from correlator.topology import INBOXES, TABLE_OF, changelog_topic, inbox_topic
from correlator.wire import CASE_EVENT_SCHEMA, case_event_record, encoded_notifications
from ketenbus.agencies import CASES_TOPIC, SOURCE_TOPIC_PATTERN, notification_topic
from ketenbus.contracts.codec import get_codec
from ketenbus.deadletter import dead_letter
from ketenbus.errors import KetenbusError
from ketenbus.kafka_clients import client_config
from ketenbus.logging import get_logger
from ketenbus.producer import OutgoingRecord
from ketenbus.settings import Settings
from ketenbus.topics.admin import ensure_agency_topics

log = get_logger("correlator.offline")

Progress = Callable[[str], None]

#: Records asked of librdkafka at once, and how often progress is reported (seconds).
READ_BATCH = 10_000
PROGRESS_EVERY_S = 2.0
#: A read that stops making progress for this long fails (a partition that cannot be read).
STUCK_AFTER_S = 120.0
#: Processes that read and decode the source partitions, and that decide and write the
#: final rows (both independent per partition or key): the fold in between is one.
PROCESSES = max(1, min(4, os.cpu_count() or 1))


@dataclass
class ReplayFigures:
    """What the offline replay did, and how long each part took (seconds)."""

    events: int = 0  # source records read (the figure `replayed N source events`)
    refused: int = 0  # of which dead-lettered (no agency event)
    clock: int = 0
    rounds: int = 0
    rows: int = 0  # table rows written
    cases: int = 0  # case events written (tombstones not counted)
    notifications: int = 0
    read_seconds: float = 0.0
    fold_seconds: float = 0.0
    write_seconds: float = 0.0
    seconds: float = 0.0  # end offsets noted -> offsets committed
    #: CPU seconds of this process and its forked readers and writers over `seconds`
    #: (librdkafka's threads included): steadier than `seconds` on a box others load
    cpu_seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


@dataclass
class _Writer:
    """One idempotent producer for everything the replay writes; failures are collected."""

    settings: Settings
    producer: Producer = field(init=False)
    errors: list[KafkaError] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.producer = Producer(
            client_config(
                self.settings,
                client_id=f"{self.settings.correlator_app_id}-rebuild",
                enable_idempotence=True,
                linger_ms=20,
                partitioner="murmur2_random",  # as the worker's outputs producer
                # no compression: faust's aiokafka reads the changelogs, and has no lz4/zstd
                queue_buffering_max_messages=1_000_000,
                queue_buffering_max_kbytes=1_048_576,
            )
        )

    def produce(
        self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None
    ) -> None:
        while True:
            try:
                if partition is None:
                    self.producer.produce(topic, value, key, on_delivery=self._delivered)
                else:
                    self.producer.produce(
                        topic, value, key, partition=partition, on_delivery=self._delivered
                    )
                return
            except BufferError:  # the local queue is full: let librdkafka drain it
                self.producer.poll(0.1)

    def flush(self, timeout: float = 300.0) -> None:
        left = self.producer.flush(timeout)
        if left:
            raise RebuildFailed(f"{left} records not acknowledged within {timeout:.0f} s")
        if self.errors:
            raise RebuildFailed(f"{len(self.errors)} records failed: {self.errors[0]}")

    def _delivered(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            with self.lock:
                self.errors.append(err)


def replay_offline(settings: Settings, *, notifications: bool, progress: Progress) -> ReplayFigures:
    """Read, fold, write and commit (module docs); the figures of the replay."""
    create_internal_topics(settings)
    figures = ReplayFigures()
    get_codec()  # schemas parsed once, before the readers and writers are forked
    # Millions of long-lived objects and no cycles among them: the cyclic collector would
    # only walk them again and again while they are built.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        started, cpu = time.perf_counter(), _cpu_seconds()
        ends, events, refused = _read(settings, figures, progress)
        figures.read_seconds = time.perf_counter() - started
        progress(
            f"read {figures.events:,} source events in {figures.read_seconds:.1f} s"
            f" ({figures.refused} refused: dead-lettered)"
        )
        folding = time.perf_counter()
        folded = fold(events, figures.clock)
        del events
        figures.rounds = folded.rounds
        figures.fold_seconds = time.perf_counter() - folding
        progress(
            f"folded into {len(folded.dwellings):,} dwellings and"
            f" {len(folded.organisations):,} organisations in {figures.fold_seconds:.1f} s"
            f" ({folded.rounds} rounds)"
        )
        writing = time.perf_counter()
        written = _write(settings, folded, refused, notifications=notifications, progress=progress)
        figures.rows, figures.cases, figures.notifications = (
            written.rows,
            written.cases,
            written.notifications,
        )
        figures.write_seconds = time.perf_counter() - writing
        progress(
            f"wrote {figures.rows:,} table rows, {figures.cases:,} cases"
            + (f", {figures.notifications:,} notifications" if notifications else "")
            + f" in {figures.write_seconds:.1f} s ({PROCESSES} processes)"
        )
        _commit(settings, ends)
        figures.seconds = time.perf_counter() - started
        figures.cpu_seconds = _cpu_seconds() - cpu
    finally:
        if gc_was_enabled:
            gc.enable()
    progress(
        f"committed the ingest group at the {len(ends)} source partitions' end offsets"
        " and the agents' group at the inbox ends"
    )
    progress(
        f"{figures.cpu_seconds:.1f} s CPU in {PROCESSES} processes"
        f" ({figures.cpu_seconds / max(figures.events, 1) * 1e6:.0f} us per event)"
    )
    return figures


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its waited-for children."""
    own, children = (resource.getrusage(who) for who in (RUSAGE_SELF, RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _source_ends(consumer: Consumer) -> dict[tuple[str, int], tuple[int, int]]:
    """(low, high) watermark of every partition of every source topic, as of now."""
    pattern = re.compile(SOURCE_TOPIC_PATTERN)
    found: dict[tuple[str, int], tuple[int, int]] = {}
    for name, topic in consumer.list_topics(timeout=30).topics.items():
        if not pattern.match(name):
            continue
        for partition in topic.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=30)
            found[(name, partition)] = (low, high)
    return found


@dataclass
class _Read:
    """What one reader read: its events, its refused records' dead letters, its clock."""

    events: list[SourceEvent] = field(default_factory=list)
    refused: list[OutgoingRecord] = field(default_factory=list)
    records: int = 0
    clock: int = 0


Share = list[tuple[str, int, int, int]]  # (topic, partition, from offset, end offset)


def _read(
    settings: Settings, figures: ReplayFigures, progress: Progress
) -> tuple[dict[tuple[str, int], int], list[SourceEvent], list[OutgoingRecord]]:
    """Every source event up to the end offsets noted first; those end offsets; the
    dead-letter records of what is no agency event.

    Decoding is most of the reading, so PROCESSES readers share the partitions: forked
    before any of them makes its consumer, each sends back what it decoded.
    """
    consumer = _consumer(settings)
    try:
        watermarks = _source_ends(consumer)
    finally:
        consumer.close()
    ends = {tp: high for tp, (_, high) in watermarks.items()}
    todo = sorted((t, p, low, high) for (t, p), (low, high) in watermarks.items() if high > low)
    total = sum(high - low for _, _, low, high in todo)
    progress(f"reading {total:,} source records from {len(watermarks)} partitions")
    shares = [todo[part::PROCESSES] for part in range(PROCESSES)]
    context = multiprocessing.get_context("fork")
    children = []
    for part, share in enumerate(shares[1:], start=1):
        receive, send = context.Pipe(duplex=False)
        child = context.Process(
            target=_read_share_in_child, args=(settings, share, send), name=f"rebuild-reader-{part}"
        )
        child.start()
        send.close()
        children.append((child, receive))
    read = _read_share(settings, shares[0], progress)
    failed = []
    for child, receive in children:
        try:
            theirs = receive.recv()  # what it read; EOF if it died
        except EOFError:
            theirs = None
        child.join()
        if child.exitcode != 0 or not isinstance(theirs, _Read):
            failed.append(f"{child.name} exited with {child.exitcode}")
            continue
        read.events += theirs.events
        read.refused += theirs.refused
        read.records += theirs.records
        read.clock = max(read.clock, theirs.clock)
    if failed:
        raise RebuildFailed("; ".join(failed))
    figures.events, figures.refused, figures.clock = read.records, len(read.refused), read.clock
    return ends, read.events, read.refused


def _consumer(settings: Settings) -> Consumer:
    """A consumer that never joins a group or commits: assigned partitions only."""
    return Consumer(
        client_config(
            settings,
            group_id=f"{settings.correlator_app_id}-rebuild-{uuid.uuid4()}",
            enable_auto_commit=False,
            fetch_max_bytes=52_428_800,
            max_partition_fetch_bytes=10_485_760,
            queued_min_messages=200_000,
        )
    )


def _read_share_in_child(settings: Settings, share: Share, send: Connection) -> None:
    send.send(_read_share(settings, share, None))
    send.close()


def _read_share(settings: Settings, share: Share, progress: Progress | None) -> _Read:
    """Read and decode the partitions of `share` from their offsets to their ends."""
    read = _Read()
    if not share:
        return read
    codec = get_codec()
    total = sum(end - low for _, _, low, end in share)
    remaining = {(t, p): end for t, p, _, end in share}
    wall_ms = int(time.time() * 1000)
    skew_ms = settings.clock_skew_seconds * 1000
    consumer = _consumer(settings)
    try:
        consumer.assign([TopicPartition(t, p, low) for t, p, low, _ in share])
        started = reported = last_progress = time.perf_counter()
        while remaining:
            batch = consumer.consume(READ_BATCH, timeout=0.5)
            now = time.perf_counter()
            if not batch:
                if now - last_progress > STUCK_AFTER_S:
                    raise RebuildFailed(
                        f"no record read for {STUCK_AFTER_S:.0f} s;"
                        f" {len(remaining)} partitions unfinished"
                    )
                continue
            last_progress = now
            for message in batch:
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        log.warning("consume_failed", error=str(error))
                    continue
                where = (message.topic() or "", message.partition() or 0)
                offset = message.offset() or 0
                end = remaining.get(where)
                if end is None or offset >= end:
                    continue  # published after the end offsets were noted: the worker's
                if offset + 1 >= end:
                    del remaining[where]
                read.records += 1
                try:
                    event = decode_event(codec, message)
                except REFUSED as exc:
                    read.refused.append(refusal(message, exc)[1])
                    continue
                read.clock = advance(
                    read.clock, event.occurred_at, wall_ms=wall_ms, skew_ms=skew_ms
                )
                read.events.append(event)
            if progress is not None and now - reported >= PROGRESS_EVERY_S:
                reported = now
                rate = read.records / (now - started)
                progress(
                    f"read {read.records:,} of {total:,} ({rate:,.0f} events/s;"
                    f" reader 1 of {PROCESSES})"
                )
        return read
    finally:
        consumer.close()


def _bytes(key: bytes | str | None) -> bytes | None:
    return key.encode() if isinstance(key, str) else key


@dataclass
class _Written:
    """What one share of the writing wrote."""

    rows: int = 0
    cases: int = 0
    notifications: int = 0

    def add(self, other: _Written) -> None:
        self.rows += other.rows
        self.cases += other.cases
        self.notifications += other.notifications


def _write(
    settings: Settings,
    folded: Folded,
    refused: list[OutgoingRecord],
    *,
    notifications: bool,
    progress: Progress,
) -> _Written:
    """Write every row, case (and notification) in PROCESSES processes, the clocks
    and dead letters here; return once the broker acknowledged all of it.

    Deciding each case's view and encoding it is most of the work and independent per
    key, so forked processes share it (they inherit `folded`; each has its own producer,
    made after the fork: a librdkafka client does not survive one).
    """
    context = multiprocessing.get_context("fork")
    children = []
    for part in range(1, PROCESSES):
        receive, send = context.Pipe(duplex=False)
        child = context.Process(
            target=_write_share_in_child,
            args=(settings, folded, part, notifications, send),
            name=f"rebuild-writer-{part}",
        )
        child.start()
        send.close()
        children.append((child, receive))
    writer = _Writer(settings)
    for record in refused:
        writer.produce(record.topic, _bytes(record.key), record.value)
    started, cpu = time.perf_counter(), time.process_time()
    written = _write_share(
        settings, writer, folded, 0, notifications=notifications, progress=progress
    )
    _write_clocks(settings, writer, folded.clock)
    queued = time.perf_counter()
    writer.flush()
    log.info(
        "rebuild_share_written",
        part=0,
        queued_s=round(queued - started, 2),
        flushed_s=round(time.perf_counter() - queued, 2),
        cpu_s=round(time.process_time() - cpu, 2),
    )
    failed = []
    for child, receive in children:
        try:
            share = receive.recv()  # its figures once it flushed; EOF if it died
        except EOFError:
            share = None
        child.join()
        if child.exitcode != 0 or not isinstance(share, _Written):
            failed.append(f"{child.name} exited with {child.exitcode}")
        else:
            written.add(share)
    if failed:
        raise RebuildFailed("; ".join(failed))
    return written


def _write_share_in_child(
    settings: Settings, folded: Folded, part: int, notifications: bool, send: Connection
) -> None:
    writer = _Writer(settings)
    started, cpu = time.perf_counter(), time.process_time()
    written = _write_share(settings, writer, folded, part, notifications=notifications)
    queued = time.perf_counter()
    writer.flush()
    log.info(
        "rebuild_share_written",
        part=part,
        queued_s=round(queued - started, 2),
        flushed_s=round(time.perf_counter() - queued, 2),
        cpu_s=round(time.process_time() - cpu, 2),
    )
    send.send(written)
    send.close()


def _write_share(
    settings: Settings,
    writer: _Writer,
    folded: Folded,
    part: int,
    *,
    notifications: bool,
    progress: Progress | None = None,
) -> _Written:
    """Queue share `part` of the table rows, case events (and notifications)."""
    written = _Written()
    codec = get_codec()
    partitions = settings.correlator_partitions
    clock = folded.clock
    changelogs = {inbox: changelog_topic(settings, TABLE_OF[inbox]) for inbox in INBOXES}
    topics: dict[str, str | None] = {}  # recipient -> its notification topic (None: none)
    share = (len(folded.dwellings) + len(folded.organisations)) // PROCESSES
    started = reported = time.perf_counter()
    for row in final_rows(folded, part, PROCESSES):
        if progress is not None and written.rows % 1000 == 0:
            now = time.perf_counter()
            if now - reported >= PROGRESS_EVERY_S:
                reported = now
                rate = written.rows / (now - started)
                progress(
                    f"wrote {written.rows:,} of ~{share:,} rows ({rate:,.0f} rows/s;"
                    f" writer 1 of {PROCESSES})"
                )
        partition = partition_of(row.key, partitions)
        key, value = changelog_record(
            row.key,
            {"partition": partition, "stall_due": row.stall_due, "state": row.aggregate.to_json()},
        )
        writer.produce(changelogs[row.inbox], key, value, partition=partition)
        written.rows += 1
        if row.removed is not None:
            writer.produce(CASES_TOPIC, row.removed.encode(), None)
        change = row.change
        if change is None:
            continue
        case_key = change.view.case_id.encode()
        record = case_event_record(change, clock)
        writer.produce(CASES_TOPIC, case_key, codec.encode(CASE_EVENT_SCHEMA, record, trusted=True))
        written.cases += 1
        if not notifications:
            continue
        for note, encoded in encoded_notifications(change, clock, codec):
            if note.recipient not in topics:
                topics[note.recipient] = _notification_topic(settings, note.recipient)
            topic = topics[note.recipient]
            if topic is None:
                dead = dead_letter(
                    encoded,
                    source="correlator:notifications",
                    reason="no_notification_topic",
                    exception="NoNotificationTopic",
                    message="no notification topic for this agency",
                    agency=note.recipient,
                )
                writer.produce(dead.topic, _bytes(dead.key), dead.value)
                continue
            writer.produce(topic, case_key, encoded)
            written.notifications += 1
    return written


def _write_clocks(settings: Settings, writer: _Writer, clock: int) -> None:
    """Every inbox partition's clock (rule 6), as the agents store it after the last tick."""
    if not clock:
        return
    clocks = changelog_topic(settings, "clocks")
    for inbox in INBOXES:
        for partition in range(settings.correlator_partitions):
            key, value = changelog_record(clock_key(inbox, partition), clock)
            writer.produce(clocks, key, value, partition=partition)


def _notification_topic(settings: Settings, recipient: str) -> str | None:
    """The recipient's notification topic, created if missing (as the agents do)."""
    topic = notification_topic(recipient)
    try:
        ensure_agency_topics(recipient, settings=settings, only=[topic])
    except KetenbusError as exc:
        log.error("notification_topic_missing", agency=recipient, error=str(exc))
        return None
    return topic


def _commit(settings: Settings, ends: dict[tuple[str, int], int]) -> None:
    """Commit both groups' offsets as a worker that replayed everything would have."""
    inbox_ends = _inbox_ends(settings)
    for group, offsets in (
        (settings.correlator_group, ends),
        (settings.correlator_app_id, inbox_ends),
    ):
        if not offsets:
            continue
        consumer = Consumer(client_config(settings, group_id=group, enable_auto_commit=False))
        try:
            consumer.commit(
                offsets=[TopicPartition(t, p, end) for (t, p), end in sorted(offsets.items())],
                asynchronous=False,
            )
        finally:
            consumer.close()
        log.info("rebuild_offsets_committed", group=group, partitions=len(offsets))


def _inbox_ends(settings: Settings) -> dict[tuple[str, int], int]:
    consumer = Consumer(client_config(settings, group_id=f"{settings.correlator_app_id}-ends"))
    try:
        ends: dict[tuple[str, int], int] = {}
        for inbox in INBOXES:
            topic = inbox_topic(settings, inbox)
            for partition in range(settings.correlator_partitions):
                _, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=30
                )
                ends[(topic, partition)] = high
        return ends
    finally:
        consumer.close()
