"""The correlator's Faust app: two aggregates as tables, agents as thin glue.

dwelling inbox (key: address)      -> dwellings table     -> cases.events, notifications.*,
organisation inbox (key: KvK)      -> organisations table    summaries/facts to the other inbox

Each agent step: decode -> pure handler (correlator.domain.handlers) -> produce and await
every output -> store the new aggregate -> (faust) commit. Outputs are sent before the
table is written, so a crash between the two replays the message and re-sends the same
outputs (deterministic ids) instead of losing them: at-least-once, recognisably.

Rule: docs/correlation.md#rule-6.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any

import faust
from faust.types import EventT, StreamT, TableT, TopicT
from prometheus_client import generate_latest

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
from correlator.topology import AggregateRow, Inbox, Table, inbox_topic
from correlator.wire import (
    CASE_EVENT_SCHEMA,
    NOTIFICATION_SCHEMA,
    BadEnvelope,
    case_event_record,
    envelope,
    notification_record,
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
)


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
cases_topic = app.topic(CASES_TOPIC, key_serializer="raw", value_serializer="raw")
deadletter_topic = app.topic("deadletter", key_serializer="raw", value_serializer="raw")

#: Messages an agent step takes at once: one broker round trip per batch, not per message.
BATCH_SIZE = 50
BATCH_WITHIN_S = 0.05


def _table(name: Table) -> TableT[str, Any]:
    return app.Table(
        name,
        default=None,
        partitions=settings.correlator_partitions,
        key_type=str,
    )


dwellings = _table("dwellings")
organisations = _table("organisations")
clocks = _table("clocks")

Loader = Callable[[dict[str, Any]], Any]
Handler = Callable[[Any, str, Any, int], Handled[Any]]
_AGGREGATES: dict[str, tuple[TableT[str, Any], Loader, Handler]] = {
    DWELLING: (dwellings, dwelling.DwellingCase.from_json, handle_dwelling),
    ORGANISATION: (organisations, organisation.OrganisationProfile.from_json, handle_organisation),
}
_INBOXES = {DWELLING: dwelling_inbox, ORGANISATION: organisation_inbox}


@lru_cache(maxsize=4096)
def _notification_topic(recipient: str) -> TopicT:
    topic = notification_topic(recipient)
    ensure_agency_topics(recipient, only=[topic])  # exists once the agency is first notified
    return app.topic(topic, key_serializer="raw", value_serializer="raw")


class Batch:
    """One batch of an inbox: aggregates loaded once, outputs pending, writes deferred.

    Every output of the batch is produced and acknowledged before any aggregate of the
    batch is written to its table, so a crash in between replays the batch and re-sends
    the same outputs (same ids) instead of losing them.
    """

    def __init__(self, inbox: str) -> None:
        self.inbox = inbox
        self.table, self.load, self.handler = _AGGREGATES[inbox]
        self.pending: list[Awaitable[Any]] = []
        self.rows: dict[str, AggregateRow] = {}  # written at the end
        self.loaded: dict[str, Any] = {}

    def _row(self, key: str) -> AggregateRow | None:
        return self.rows.get(key) or self.table.get(key)

    def _aggregate(self, key: str) -> Any:
        if key not in self.loaded:
            row = self._row(key)
            state = row["state"] if row else None
            self.loaded[key] = self.load(state) if state is not None else None
        return self.loaded[key]

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
        self.loaded[key] = handled.aggregate
        self.rows[key] = {"partition": partition, "stall_due": stall_due, "state": None}

    async def tick(self, partition: int, clock: int) -> None:
        """Revisit this partition's open cases whose stall time has come (rule 6)."""
        rows = {key: row for key, row in list(self.table.items()) if row}
        rows.update(self.rows)
        due = [
            key
            for key, row in rows.items()
            if row.get("partition") == partition
            and row.get("stall_due") is not None
            and row["stall_due"] < clock
        ]
        for key in due:
            await self.handle(key, None, partition, clock)

    async def _emit(self, handled: Handled[Any], clock: int) -> None:
        change = handled.change
        if change is not None:
            view = change.view
            record = case_event_record(change, clock)
            self.pending.append(
                await cases_topic.send(
                    key=view.case_id.encode(),
                    value=codec.encode(CASE_EVENT_SCHEMA, record, trusted=True),
                )
            )
            CASE_CHANGES.labels(view.kind, view.status).inc()
            if view.status == "open" and change.previous_status in (None, "signal", "closed"):
                CASES_OPENED.labels(view.kind).inc()
            if settings.correlator_notify:
                for note in change.notifications:
                    value = codec.encode(
                        NOTIFICATION_SCHEMA, notification_record(note, clock), trusted=True
                    )
                    try:
                        topic = await asyncio.to_thread(_notification_topic, note.recipient)
                    except KetenbusError as exc:  # an agency topics.yaml does not declare
                        await _dead_letter_value(
                            value, note.recipient, "no_notification_topic", exc
                        )
                        continue
                    self.pending.append(await topic.send(key=view.case_id.encode(), value=value))
                    NOTIFICATIONS_SENT.labels(note.recipient).inc()
            log.info(
                "case_changed",
                case_id=view.case_id,
                status=view.status,
                changes=list(change.changes),
                notified=len(change.notifications),
            )
        if handled.removed is not None:  # a tombstone: the case merged into its address
            self.pending.append(await cases_topic.send(key=handled.removed.encode(), value=None))
            log.info("case_merged", case_id=handled.removed)
        for out in handled.outgoing:
            self.pending.append(
                await _INBOXES[out.inbox].send(key=out.key.encode(), value=envelope(out.message))
            )

    async def commit(self) -> None:
        """Wait for every output, then store the aggregates that changed."""
        await asyncio.gather(*self.pending)
        for key, row in self.rows.items():
            _store(self.table, row["partition"], key, {**row, "state": self.loaded[key].to_json()})


def _store(table: TableT[str, Any], partition: int, key: str, value: Any) -> None:
    """Write a table key to the changelog partition of the inbox partition it lives on.

    `table[key] = value` would pick the partition of "the current event", which a batch
    of many partitions does not have. (Memory store: the local write is the dict.)
    """
    table.send_changelog(partition, key, value)
    table.data[key] = value


def _advance_clock(inbox: str, partition: int, stamp: int) -> int:
    key = f"{inbox}:{partition}"
    known = int(clocks.get(key) or 0)
    now = advance(
        known,
        stamp,
        wall_ms=int(time.time() * 1000),
        skew_ms=settings.clock_skew_seconds * 1000,
    )
    if now > known:
        _store(clocks, partition, key, now)
        BACKBONE_CLOCK.set(now / 1000)
    return now


async def _consume(inbox: str, stream: StreamT[Any]) -> None:
    async for events in stream.take_events(  # type: ignore[attr-defined]
        BATCH_SIZE, within=BATCH_WITHIN_S
    ):
        batch = Batch(inbox)
        for event in events:
            partition = event.message.partition
            try:
                message = open_envelope(event.value)
            except BadEnvelope as exc:
                await _dead_letter(event, exc)
                continue
            try:
                if isinstance(message, ClockTick):
                    await batch.tick(partition, _advance_clock(inbox, partition, message.now))
                else:
                    stamp = getattr(message, "occurred_at", 0)
                    clock = _advance_clock(inbox, partition, stamp)
                    await batch.handle(event.key.decode(), message, partition, clock)
            except Exception as exc:  # the service boundary: keep going, keep the message
                log.exception("message_failed", inbox=inbox, partition=partition)
                await _dead_letter(event, exc, reason="handler_failed")
        await batch.commit()


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


@app.page("/healthz")
async def healthz(web: Any, request: Any) -> Any:
    alive = _ingest is not None and _ingest.alive
    return web.json({"ok": alive, "ingest": alive}, status=200 if alive else 503)
