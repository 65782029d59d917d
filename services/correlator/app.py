"""The correlator's Faust app: two aggregates as tables, agents as thin glue.

dwelling inbox (key: address)      -> dwellings table     -> cases.events, notifications.*,
organisation inbox (key: KvK)      -> organisations table    summaries/facts to the other inbox

Each agent step: decode -> pure handler (correlator.domain.handlers) -> produce and await
every output -> store the new aggregate -> (faust) commit. Outputs are sent before the
table is written, so a crash between the two replays the message and re-sends the same
outputs (deterministic ids) instead of losing them: at-least-once, recognisably.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any

import faust
from prometheus_client import generate_latest

from correlator.domain import dwelling, organisation
from correlator.domain.case import stall_due_at
from correlator.domain.events import ClockTick
from correlator.domain.handlers import (
    DWELLING,
    ORGANISATION,
    Handled,
    handle_dwelling,
    handle_organisation,
)
from correlator.ingest import Ingest, inbox_topic
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
from ketenbus.codec import get_codec
from ketenbus.deadletter import dead_letter
from ketenbus.logging import configure_logging, get_logger
from ketenbus.metrics import (
    BACKBONE_CLOCK,
    CASE_CHANGES,
    CASES_OPENED,
    DEADLETTERS,
    NOTIFICATIONS_SENT,
)
from ketenbus.settings import get_settings
from ketenbus.topics_admin import ensure_agency_topics

settings = get_settings()
configure_logging(settings.log_level)
log = get_logger("correlator")
codec = get_codec()

app = faust.App(
    settings.correlator_app_id,
    broker=[f"kafka://{server}" for server in settings.bootstrap_servers.split(",")],
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
    datadir=str(settings.home / "correlator"),
    # Topics created after the worker subscribed are noticed within this time.
    consumer_metadata_max_age_ms=15000,
)


def _inbox(name: str) -> faust.TopicT:
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

_table_options: dict[str, Any] = (
    {"options": {"driver": "rocksdict"}} if settings.correlator_store.startswith("rocksdb") else {}
)


def _table(name: str) -> faust.TableT:
    return app.Table(
        name,
        default=None,
        partitions=settings.correlator_partitions,
        key_type=str,
        **_table_options,
    )


dwellings = _table("dwellings")
organisations = _table("organisations")
clocks = _table("clocks")

Loader = Callable[[dict[str, Any]], Any]
Handler = Callable[[Any, str, Any, int], Handled]
_AGGREGATES: dict[str, tuple[faust.TableT, Loader, Handler]] = {
    DWELLING: (dwellings, dwelling.DwellingCase.from_json, handle_dwelling),
    ORGANISATION: (organisations, organisation.OrganisationProfile.from_json, handle_organisation),
}
_INBOXES = {DWELLING: dwelling_inbox, ORGANISATION: organisation_inbox}


@lru_cache(maxsize=4096)
def _notification_topic(recipient: str) -> faust.TopicT:
    ensure_agency_topics(recipient)  # a municipality's topic exists once first notified
    return app.topic(notification_topic(recipient), key_serializer="raw", value_serializer="raw")


async def _emit(handled: Handled, clock: int) -> None:
    """Send every output of one handled message and wait until the broker has them all."""
    pending: list[Awaitable[Any]] = []
    change = handled.change
    if change is not None:
        view = change.view
        record = case_event_record(change, clock)
        pending.append(
            await cases_topic.send(
                key=view.case_id.encode(), value=codec.encode(CASE_EVENT_SCHEMA, record)
            )
        )
        CASE_CHANGES.labels(view.kind, view.status).inc()
        if view.status == "open" and change.previous_status in (None, "signal", "closed"):
            CASES_OPENED.labels(view.kind).inc()
        if settings.correlator_notify:
            for note in change.notifications:
                topic = await asyncio.to_thread(_notification_topic, note.recipient)
                value = codec.encode(NOTIFICATION_SCHEMA, notification_record(note, clock))
                pending.append(await topic.send(key=view.case_id.encode(), value=value))
                NOTIFICATIONS_SENT.labels(note.recipient).inc()
        log.info(
            "case_changed",
            case_id=view.case_id,
            status=view.status,
            changes=list(change.changes),
            notified=len(change.notifications),
        )
    for out in handled.outgoing:
        pending.append(
            await _INBOXES[out.inbox].send(key=out.key.encode(), value=envelope(out.message))
        )
    await asyncio.gather(*pending)


async def _advance_clock(inbox: str, partition: int, now: int) -> int:
    key = f"{inbox}:{partition}"
    known = clocks.get(key) or 0
    if now > known:
        clocks[key] = now
        BACKBONE_CLOCK.set(now / 1000)
        return now
    return int(known)


async def _handle(inbox: str, key: str, message: Any, partition: int, clock: int) -> None:
    table, load, handler = _AGGREGATES[inbox]
    stored = table.get(key)
    aggregate = load(stored["state"]) if stored else None
    handled = handler(aggregate, key, message, clock)
    await _emit(handled, clock)
    if handled.aggregate == aggregate and handled.change is None:
        return
    stall_due = stored.get("stall_due") if stored else None
    if handled.change is not None:
        stall_due = stall_due_at(handled.change.view)
    table[key] = {
        "partition": partition,
        "stall_due": stall_due,
        "state": handled.aggregate.to_json(),
    }


async def _on_tick(inbox: str, partition: int, clock: int) -> None:
    """Revisit this partition's open cases whose stall time has come (rule 6)."""
    table = _AGGREGATES[inbox][0]
    due = [
        key
        for key, value in list(table.items())
        if value
        and value.get("partition") == partition
        and value.get("stall_due") is not None
        and value["stall_due"] < clock
    ]
    for key in due:
        await _handle(inbox, key, None, partition, clock)


async def _consume(inbox: str, stream: faust.StreamT) -> None:
    async for event in stream.events():
        partition = event.message.partition
        try:
            message = open_envelope(event.value)
        except BadEnvelope as exc:
            await _dead_letter(event, exc)
            continue
        stamp = (
            message.now if isinstance(message, ClockTick) else getattr(message, "occurred_at", 0)
        )
        clock = await _advance_clock(inbox, partition, stamp)
        if isinstance(message, ClockTick):
            await _on_tick(inbox, partition, clock)
        else:
            await _handle(inbox, event.key.decode(), message, partition, clock)


async def _dead_letter(event: faust.EventT, exc: Exception) -> None:
    DEADLETTERS.labels("correlator", "bad_envelope").inc()
    log.warning("envelope_dead_lettered", topic=event.message.topic, error=str(exc))
    record = dead_letter(
        event.value,
        source=f"correlator:{event.message.topic}/{event.message.partition}/{event.message.offset}",
        reason="bad_envelope",
        exception=exc,
        message=str(exc),
    )
    await deadletter_topic.send(key=event.key, value=record.value, headers=list(record.headers))


@app.agent(dwelling_inbox)
async def dwelling_agent(stream: faust.StreamT) -> None:
    await _consume(DWELLING, stream)


@app.agent(organisation_inbox)
async def organisation_agent(stream: faust.StreamT) -> None:
    await _consume(ORGANISATION, stream)


_ingest: Ingest | None = None


@app.service
class IngestService(faust.Service):
    """Runs the ingest stage beside the agents; stopping it leaves its consumer group."""

    async def on_start(self) -> None:
        global _ingest
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
