"""The correlator's Faust app: two aggregates as tables, agents as thin glue.

dwelling inbox (key: address)      -> dwellings table     -> cases.events, notifications.*,
organisation inbox (key: KvK)      -> organisations table    summaries/facts to the other inbox

Each agent step (a batch of inbox messages): decode -> pure handler
(correlator.domain.handlers) -> queue every output (correlator.outputs) -> wait until all
are acknowledged -> store the new aggregates -> (faust) commit. Outputs are acknowledged
before the table is written, so a crash between the two replays the batch and re-sends the
same outputs (deterministic ids) instead of losing them: at-least-once, recognisably.

Rule: docs/correlation.md#rule-6.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any, cast

import faust
from faust.types import EventT, StreamT, TableT, TopicT
from prometheus_client import generate_latest

from correlator import commit_guard, health, offset_refresh, rebalance
from correlator.domain import dwelling, organisation
from correlator.domain.case import stall_due_at
from correlator.domain.clock import advance
from correlator.domain.events import ClockTick
from correlator.domain.handlers import (
    DWELLING,
    ORGANISATION,
    Handled,
    handle_dwelling,
    handle_organisation,
)
from correlator.ingest import Ingest
from correlator.live_cache import live_caches
from correlator.outputs import Outputs
from correlator.stall_index import StallIndex
from correlator.tables import (
    changelog_key,
    changelog_record,
    clock_key,
    recovered_row,
    row_state,
    stored_row,
)
from correlator.topology import AggregateRow, Inbox, Table, inbox_topic
from correlator.wire import (
    CASE_EVENT_SCHEMA,
    BadEnvelope,
    case_event_record,
    encoded_notifications,
    envelope,
    open_envelope,
)
from ketenbus.agencies import CASES_TOPIC, notification_topic
from ketenbus.contracts.codec import get_codec
from ketenbus.deadletter import dead_letter
from ketenbus.errors import KetenbusError
from ketenbus.kafka_clients import faust_broker
from ketenbus.logging import configure_logging, get_logger
from ketenbus.metrics import (
    BACKBONE_CLOCK,
    CASE_CHANGES,
    CASES_OPENED,
    DEADLETTERS,
    NOTIFICATIONS_SENT,
)
from ketenbus.settings import get_settings
from ketenbus.topics.admin import ensure_agency_topics

settings = get_settings()
configure_logging(settings.log_level)
log = get_logger("correlator")
codec = get_codec()

# SASL_SSL as the correlator's principal (KETENBUS_KAFKA_PRINCIPAL, set by `ketenbus up`)
_brokers, _credentials = faust_broker(settings)
app = faust.App(
    settings.correlator_app_id,
    broker=_brokers,
    broker_credentials=_credentials,
    store=settings.correlator_store,
    topic_partitions=settings.correlator_partitions,
    topic_replication_factor=1,
    processing_guarantee="at_least_once",
    web_port=settings.correlator_port,
    web_host="127.0.0.1",
    autodiscover=False,
    table_standby_replicas=0,
    broker_commit_interval=1.0,
    consumer_auto_offset_reset="earliest",
    datadir=str(settings.correlator_datadir),
    # Topics created after the worker subscribed are noticed within this time.
    consumer_metadata_max_age_ms=15000,
    # No leader election (no `on_leader` timers): without it faust neither creates nor
    # subscribes to `<app id>-__assignor-__leader`, a topic that otherwise appears while
    # the group is joining and forces a second rebalance right after start.
    topic_disable_leader=True,
)
# faust 0.15.3 drops inbox records fetched while it seeks after a rebalance: hold them
rebalance.hold_streams_until_seeked(app)
# aiokafka 0.14 stops fetching for good after one unexpected OffsetFetch answer: retry it
offset_refresh.install()


def _inbox(name: Inbox) -> TopicT:
    return app.topic(
        inbox_topic(settings, name),
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.correlator_partitions,
        internal=True,
    )


dwelling_inbox = _inbox(DWELLING)
organisation_inbox = _inbox(ORGANISATION)
deadletter_topic = app.topic("deadletter", key_serializer="raw", value_serializer="raw")

#: Exit status of a worker whose batch could not be completed (EX_SOFTWARE).
EXIT_BATCH_FAILED = 70

#: Messages an agent step takes at once: one broker round trip per batch, not per message.
BATCH_SIZE = 500
BATCH_WITHIN_S = 0.05
#: A batch is CPU work without awaits; it gives the event loop a turn this often.
YIELD_EVERY = 25


class PackedRowsTable(faust.Table[str, Any]):
    """A table of aggregate rows whose rows recovered from the changelog are kept packed,
    like the rows the agents store (`correlator.tables.recovered_row`): faust's memory
    store would keep every recovered state as decoded dicts, ~7x the memory."""

    def _to_value(self, v: Any) -> Any:
        return recovered_row(v)


def _table(name: Table, kind: type[faust.Table[str, Any]] = faust.Table) -> TableT[str, Any]:
    table = kind(
        app,
        name=name,
        default=None,
        beacon=app.tables.beacon,
        partitions=settings.correlator_partitions,
        key_type=str,
    )
    return cast(TableT[str, Any], app.tables.add(table))


dwellings = _table("dwellings", PackedRowsTable)
organisations = _table("organisations", PackedRowsTable)
clocks = _table("clocks")

Loader = Callable[[dict[str, Any]], Any]
Handler = Callable[[Any, str, Any, int], Handled[Any]]
_AGGREGATES: dict[str, tuple[TableT[str, Any], Loader, Handler]] = {
    DWELLING: (dwellings, dwelling.DwellingCase.from_json, handle_dwelling),
    ORGANISATION: (organisations, organisation.OrganisationProfile.from_json, handle_organisation),
}


_INBOX_TOPICS = {inbox: inbox_topic(settings, inbox) for inbox in (DWELLING, ORGANISATION)}

#: recipient -> its notification topic, once this worker made sure the topic exists
_notification_topics: dict[str, str] = {}


async def _notification_topic(recipient: str) -> str:
    """Create the recipient's notification topic if missing (in a thread: blocking admin
    calls): once per recipient and worker, e.g. a municipality notified the first time."""
    topic = notification_topic(recipient)
    await asyncio.to_thread(ensure_agency_topics, recipient, only=[topic])
    _notification_topics[recipient] = topic
    return topic


#: Aggregates kept loaded per inbox (KETENBUS_CORRELATOR_LIVE_AGGREGATES each), least
#: recently used dropped first: loading one from its JSON state costs as much as its history.
_LIVE = live_caches(settings, (DWELLING, ORGANISATION))

#: One output producer per inbox agent, made when its first batch runs (not on import:
#: the CLI imports this module too).
_outputs: dict[str, Outputs] = {}


def _outputs_of(inbox: str) -> Outputs:
    if inbox not in _outputs:
        _outputs[inbox] = Outputs(settings, inbox)
    return _outputs[inbox]


#: Open cases by stall time, per inbox partition (rule 6); derived from the tables.
_stalls = StallIndex()


def _forget_stalls(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
    _stalls.forget()  # partitions moved: rebuilt from the recovered tables at the next tick


app.on_partitions_revoked.connect(_forget_stalls)
app.on_partitions_assigned.connect(_forget_stalls)


#: (metric, label values) -> its child: `labels()` costs more than the `inc()` itself,
#: and a source event counts ~5 notifications and a case change.
_children: dict[tuple[Any, tuple[str, ...]], Any] = {}


def _counter(metric: Any, *values: str) -> Any:
    key = (metric, values)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*values)
    return child


class Batch:
    """One batch of an inbox: aggregates loaded once, outputs pending, writes deferred.

    Every output of the batch is produced and acknowledged (acks=all) before any aggregate
    of the batch is written to its table, so a crash in between replays the batch and re-sends
    the same outputs (same ids) instead of losing them.
    """

    def __init__(self, inbox: str) -> None:
        self.inbox = inbox
        self.table, self.load, self.handler = _AGGREGATES[inbox]
        self.outputs = _outputs_of(inbox)
        self.rows: dict[str, AggregateRow] = {}  # written at the end
        self.loaded: dict[str, Any] = {}
        self.clocks: dict[int, int] = {}  # partition -> clock, written at the end

    def _row(self, key: str) -> AggregateRow | None:
        return self.rows.get(key) or self.table.get(key)

    def _aggregate(self, key: str) -> Any:
        if key not in self.loaded:
            row = self._row(key)
            self.loaded[key] = None if row is None else self._load(key, row)
        return self.loaded[key]

    def _load(self, key: str, row: AggregateRow) -> Any:
        """The aggregate of a stored row: from the live cache when the row still holds
        the very state this worker stored with it (memory store), else from its JSON."""
        hit = _LIVE[self.inbox].get(key, row["state"])
        if hit is not None:
            return hit
        state = row_state(row)
        return None if state is None else self.load(state)

    async def handle(self, key: str, message: Any, partition: int, clock: int) -> None:
        before = self._aggregate(key)
        handled = self.handler(before, key, message, clock)
        await self._emit(handled, clock)
        if handled.aggregate == before and handled.change is None:
            return
        row = self._row(key)
        stall_due = row.get("stall_due") if row else None
        if handled.change is not None:
            stall_due = stall_due_at(handled.change.view)
            if stall_due != (row.get("stall_due") if row else None):
                _stalls.add(self.inbox, partition, key, stall_due)
        self.loaded[key] = handled.aggregate
        self.rows[key] = {"partition": partition, "stall_due": stall_due, "state": None}

    def _stall_due(self, key: str) -> int | None:
        row = self._row(key)
        return row.get("stall_due") if row else None

    def _due_rows(self, partition: int) -> list[tuple[str, int]]:
        """(key, stall time) of every row of `partition` that can stall: one table scan,
        the first time a partition ticks after this worker (re)gained it."""
        rows = {key: row for key, row in self.table.data.items() if row}
        rows.update(self.rows)
        return [
            (key, row["stall_due"])
            for key, row in rows.items()
            if row.get("partition") == partition and row.get("stall_due") is not None
        ]

    async def tick(self, partition: int, clock: int) -> None:
        """Revisit this partition's open cases whose stall time has come (rule 6).

        Only the due cases are touched (the stall index), not the whole table.
        """
        if not _stalls.known(self.inbox, partition):
            _stalls.build(self.inbox, partition, self._due_rows(partition))
        due = _stalls.pop_due(self.inbox, partition, clock, self._stall_due)
        for key in due:
            await self.handle(key, None, partition, clock)
            still_due = self._stall_due(key)
            if still_due is not None and still_due < clock:
                # Unchanged by the tick: revisit it at the next tick, as a scan would.
                _stalls.add(self.inbox, partition, key, still_due)

    def advance_clock(self, partition: int, stamp: int) -> int:
        """The partition's clock after seeing event time `stamp`: it never goes back, and
        never past this worker's wall clock plus the allowed skew (docs/correlation.md#rule-6)."""
        known = self.clocks.get(partition)
        if known is None:
            known = int(clocks.get(_clock_key(self.inbox, partition)) or 0)
        now = advance(
            known,
            stamp,
            wall_ms=int(time.time() * 1000),
            skew_ms=settings.clock_skew_seconds * 1000,
        )
        if now > known:
            self.clocks[partition] = now
            BACKBONE_CLOCK.set(now / 1000)
        return now

    async def _emit(self, handled: Handled[Any], clock: int) -> None:
        """Queue the outputs of one step (acknowledged all at once in `commit`)."""
        out = self.outputs
        change = handled.change
        if change is not None:
            view = change.view
            case_key = view.case_id.encode()
            record = case_event_record(change, clock)
            out.produce(
                CASES_TOPIC, case_key, codec.encode(CASE_EVENT_SCHEMA, record, trusted=True)
            )
            _counter(CASE_CHANGES, view.kind, view.status).inc()
            if view.status == "open" and change.previous_status in (None, "signal", "closed"):
                _counter(CASES_OPENED, view.kind).inc()
            if settings.correlator_notify:
                for note, value in encoded_notifications(change, clock, codec):
                    topic = _notification_topics.get(note.recipient)
                    if topic is None:
                        try:
                            topic = await _notification_topic(note.recipient)
                        except KetenbusError as exc:  # an agency topics.yaml does not declare
                            await _dead_letter_value(
                                value, note.recipient, "no_notification_topic", exc
                            )
                            continue
                    out.produce(topic, case_key, value)
                    _counter(NOTIFICATIONS_SENT, note.recipient).inc()
            log.debug(  # per case change: info would be a JSON line per event at volume
                "case_changed",
                case_id=view.case_id,
                status=view.status,
                changes=list(change.changes),
                notified=len(change.notifications),
            )
        if handled.removed is not None:  # a tombstone: the case merged into its address
            out.produce(CASES_TOPIC, handled.removed.encode(), None)
            log.debug("case_merged", case_id=handled.removed)
        for forward in handled.outgoing:
            out.produce(
                _INBOX_TOPICS[forward.inbox], forward.key.encode(), envelope(forward.message)
            )

    async def commit(self) -> None:
        """Wait for every output, then store the aggregates that changed (and wait for
        their changelog records: the batch's offsets are committed after this returns)."""
        await self.outputs.flush()
        live = _LIVE[self.inbox]
        for key, row in self.rows.items():
            aggregate = self.loaded[key]
            value, record = stored_row(row["partition"], row["stall_due"], aggregate.to_json())
            _store(self.outputs, self.table, row["partition"], key, value, record)
            live.put(key, value["state"], aggregate)
        live.trim()
        for partition, now in self.clocks.items():
            _store(self.outputs, clocks, partition, _clock_key(self.inbox, partition), now)
        await self.outputs.flush()


def _store(
    out: Outputs,
    table: TableT[str, Any],
    partition: int,
    key: str,
    value: Any,
    encoded: bytes | None = None,
) -> None:
    """Write a table key: the local store, and its changelog partition (the partition of
    the inbox partition it lives on: `table[key] = value` would pick the partition of
    "the current event", which a batch of many partitions does not have).

    The changelog record is the one faust's `send_changelog` would write (its json codec
    for key and value), so faust recovers the table from it as ever; it goes through the
    batch's librdkafka producer instead of faust's aiokafka one, which cost ~50 us of
    Python per record and made every faust commit wait for its buffer. `encoded`: the
    value's record, when the caller made it already (`stored_row`).
    """
    if encoded is None:
        record_key, record_value = changelog_record(key, value)
    else:
        record_key, record_value = changelog_key(key), encoded
    out.produce(
        table.changelog_topic.get_topic_name(), record_key, record_value, partition=partition
    )
    table.data[key] = value


_clock_key = clock_key


async def _consume(inbox: str, stream: StreamT[Any]) -> None:
    async for events in stream.take_events(  # type: ignore[attr-defined]
        BATCH_SIZE, within=BATCH_WITHIN_S
    ):
        try:
            await _fold(inbox, events)
        except BaseException:
            # cancelled (the worker stops) before the batch's outputs were acknowledged:
            # faust's `take_events` would still ack the whole batch in its `finally` and
            # commit it on the way out (lost records). Marked acked, they are not: the
            # next owner of the partitions reads them again.
            for event in events:
                event.message.acked = True
            raise


async def _fold(inbox: str, events: list[EventT[Any]]) -> None:
    """Decode, handle and commit one batch (outputs acknowledged, then tables written)."""
    batch = Batch(inbox)
    for number, event in enumerate(events, start=1):
        if number % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # let the loop breathe: timers, the other agent, web
        partition = event.message.partition
        try:
            message = open_envelope(event.value)
        except BadEnvelope as exc:
            await _dead_letter(event, exc)
            continue
        try:
            if isinstance(message, ClockTick):
                await batch.tick(partition, batch.advance_clock(partition, message.now))
            else:
                stamp = getattr(message, "occurred_at", 0)
                clock = batch.advance_clock(partition, stamp)
                await batch.handle(cast(bytes, event.key).decode(), message, partition, clock)
        except Exception as exc:  # the service boundary: keep going, keep the message
            log.exception("message_failed", inbox=inbox, partition=partition)
            await _dead_letter(event, exc, reason="handler_failed")
    try:
        await batch.commit()
    except Exception:
        # faust's `take_events` acks the whole batch in its `finally`, even when the
        # step raised: faust would then commit offsets whose outputs were never
        # acknowledged (lost records). Ending the process here, before that `finally`
        # runs, keeps them uncommitted; the supervisor restarts the worker, which
        # reads them again (at-least-once, like a SIGKILL).
        log.critical("batch_failed_worker_exiting", inbox=inbox, size=len(events))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_BATCH_FAILED)


async def _dead_letter(event: EventT[Any], exc: Exception, reason: str = "bad_envelope") -> None:
    DEADLETTERS.labels("correlator", reason).inc()
    log.warning("message_dead_lettered", topic=event.message.topic, reason=reason, error=str(exc))
    message = event.message
    record = dead_letter(
        event.value,
        source=f"correlator:{message.topic}/{message.partition}/{message.offset}",
        reason=reason,
        exception=exc,
        message=str(exc),
    )
    await deadletter_topic.send(
        key=event.key,
        value=record.value,
        headers=[(k, v if isinstance(v, bytes) else v.encode()) for k, v in record.headers],
    )


async def _dead_letter_value(value: bytes, agency: str, reason: str, exc: Exception) -> None:
    DEADLETTERS.labels("correlator", reason).inc()
    log.error("notification_dead_lettered", agency=agency, reason=reason, error=str(exc))
    record = dead_letter(
        value,
        source="correlator:notifications",
        reason=reason,
        exception=exc,
        message=str(exc),
        agency=agency,
    )
    await deadletter_topic.send(
        key=None,
        value=record.value,
        headers=[(k, v if isinstance(v, bytes) else v.encode()) for k, v in record.headers],
    )


@app.agent(dwelling_inbox)
async def dwelling_agent(stream: StreamT[Any]) -> None:
    await _consume(DWELLING, stream)


@app.agent(organisation_inbox)
async def organisation_agent(stream: StreamT[Any]) -> None:
    await _consume(ORGANISATION, stream)


_ingest: Ingest | None = None


@app.service
class IngestService(faust.Service):
    """Runs the ingest stage beside the agents; stopping it leaves its consumer group."""

    async def on_start(self) -> None:
        global _ingest
        # faust/aiokafka log every send at DEBUG; the worker's log level may leave it on.
        for name in ("faust", "aiokafka", "mode"):
            logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger(name).level))
        _ingest = Ingest(settings)
        await asyncio.to_thread(_ingest.start)

    async def on_stop(self) -> None:
        if _ingest is not None:
            await asyncio.to_thread(_ingest.stop)


@app.page("/metrics")
async def metrics(web: Any, request: Any) -> Any:
    return web.bytes(generate_latest(), content_type="text/plain; version=0.0.4")


_watch = health.install(app, settings, _INBOX_TOPICS.values())
# faust 0.15.3 can commit past an unprocessed inbox record: hold such commits, re-read
_guard = commit_guard.install(app, settings, _INBOX_TOPICS.values())


@app.page("/healthz")
async def healthz(web: Any, request: Any) -> Any:
    alive = _ingest is not None and _ingest.alive
    stalled = [s.as_json() for s in _watch.stalled()]
    ok = alive and not stalled
    return web.json({"ok": ok, "ingest": alive, "stalled": stalled}, status=200 if ok else 503)
