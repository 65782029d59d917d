"""Read models for people and scripts: the cases (latest per case on `cases.events`) and
an agency's notifications, read straight from the topics (no consumer group, no commits,
so reading never shows up as a lagging group)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from correlator.errors import CorrelatorError
from ketenbus.agencies import CASES_TOPIC, notification_topic
from ketenbus.contracts.codec import CodecError, get_codec
from ketenbus.kafka_clients import client_config
from ketenbus.settings import Settings


class TopicMissing(CorrelatorError, LookupError):
    """The topic does not exist (yet)."""


class ReadRefused(CorrelatorError):
    """The broker does not let this principal read the topic (its ACLs)."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        super().__init__(
            f"not allowed to read {topic}: this principal has no READ on it"
            " (KETENBUS_KAFKA_PRINCIPAL; topics.yaml grants each agency its own streams)"
        )


class ReadIncomplete(CorrelatorError):
    """The topic could not be read to its end: nothing arrived for `idle_timeout` seconds
    while partitions still had records (a broker away, a partition without a leader).
    A read model that silently showed part of the topic would be wrong, so it fails."""

    def __init__(
        self, topic: str, unread: dict[int, int], idle_timeout: float, error: str | None
    ) -> None:
        self.topic = topic
        self.unread = unread
        partitions = ", ".join(f"{topic}/{p}" for p in sorted(unread))
        why = f"the broker said {error}" if error else "is the broker up, has each a leader?"
        super().__init__(
            f"could not read {topic} to its end: nothing arrived for {idle_timeout:g} s"
            f" from {partitions} ({why})"
        )


def read_topic(
    topic: str,
    bootstrap_servers: str | None = None,
    timeout: float = 60.0,
    *,
    settings: Settings | None = None,
) -> Iterator[Message]:
    """Every record of `topic` from its low watermark up to its end as of now.

    `timeout` bounds the wait for the next record, not the whole read (a long topic takes
    as long as it takes); when it runs out with partitions unread, ReadIncomplete.
    """
    extra = {"bootstrap.servers": bootstrap_servers} if bootstrap_servers else {}
    consumer = Consumer(
        client_config(
            settings,
            group_id=f"ketenbus-reader-{uuid.uuid4()}",  # never joined, never committed
            enable_auto_commit=False,
            enable_partition_eof=True,
            extra=extra,
        )
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        described = metadata.topics.get(topic)
        refused = KafkaError.TOPIC_AUTHORIZATION_FAILED
        if (
            described is not None
            and described.error is not None
            and described.error.code() == refused
        ):
            raise ReadRefused(topic)
        if described is None or described.error is not None:
            raise TopicMissing(topic)
        remaining: dict[int, int] = {}
        assignment = []
        for partition in described.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high > low:
                remaining[partition] = high
                assignment.append(TopicPartition(topic, partition, low))
        if not assignment:
            return
        consumer.assign(assignment)
        deadline = time.monotonic() + timeout
        last_error: str | None = None
        while remaining:
            if time.monotonic() > deadline:
                raise ReadIncomplete(topic, remaining, timeout, last_error)
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            partition = message.partition() or 0
            if error is not None:
                if error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                    raise ReadRefused(topic)
                if error.code() == KafkaError._PARTITION_EOF:
                    remaining.pop(partition, None)
                    deadline = time.monotonic() + timeout
                else:  # not progress (refused, no leader): the idle bound keeps running
                    last_error = error.name()
                continue
            deadline = time.monotonic() + timeout
            if (message.offset() or 0) + 1 >= remaining.get(partition, 0):
                remaining.pop(partition, None)
            yield message
    finally:
        consumer.close()


def iso(ms: datetime | int | None) -> str | None:
    if ms is None:
        return None
    moment = ms if isinstance(ms, datetime) else datetime.fromtimestamp(ms / 1000, UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def case_json(record: dict[str, Any]) -> dict[str, Any]:
    """The public JSON form of a CaseEvent (the `ketenbus cases --json` contract)."""
    explanation = json.loads(record.get("explanation_json") or "{}")
    return {
        "case_id": record["case_id"],
        "kind": record["kind"],
        "key": record["key"],
        "status": record["status"],
        "violations": record["violations"],
        "established": record["established"],
        "agencies": record["agencies"],
        "notified": record["notified"],
        "lead_agency": record["lead_agency"],
        "events": [f"{ref['agency']}/{ref['ref']}" for ref in record["events"]],
        "organisations": record["organisations"],
        "recidive": record["recidive"],
        "address": record["address"],
        "indicators": explanation.pop("indicators", []),
        "opened_at": iso(record["opened_at"]),
        "last_step_at": iso(record["last_step_at"]),
        "updated_at": iso(record["clock"]),
        "last_changes": record["changes"],
        "case_event_id": record["case_event_id"],
        "explanation": explanation,
    }


def load_cases(bootstrap_servers: str | None = None) -> list[dict[str, Any]]:
    """The latest state of every case, with its history of changes (timeline)."""
    codec = get_codec()
    latest: dict[str, dict[str, Any]] = {}
    timelines: dict[str, list[dict[str, Any]]] = {}
    try:
        messages = list(read_topic(CASES_TOPIC, bootstrap_servers))
    except TopicMissing:
        return []
    for message in messages:
        if message.value() is None:  # tombstone: the case was merged away
            latest.pop((message.key() or b"").decode(), None)
            continue
        try:
            record = codec.decode(message.value()).record
        except CodecError:
            continue
        latest[record["case_id"]] = record
        timelines.setdefault(record["case_id"], []).append(
            {"at": iso(record["clock"]), "status": record["status"], "changes": record["changes"]}
        )
    found = []
    for case_id in sorted(latest):
        item = case_json(latest[case_id])
        item["timeline"] = timelines[case_id]
        found.append(item)
    return found


def notification_json(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "notification_id": record["notification_id"],
        "case_event_id": record["case_event_id"],
        "recipient": record["recipient"],
        "case_id": record["case_id"],
        "kind": record["kind"],
        "status": record["status"],
        "changes": record["changes"],
        "address": record["address"],
        "organisations": record["organisations"],
        "violations": record["violations"],
        "agencies": record["agencies"],
        "lead_agency": record["lead_agency"],
        "events": [f"{ref['agency']}/{ref['ref']}" for ref in record["events"]],
        "recidive": record["recidive"],
        "issued_at": iso(record["issued_at"]),
    }


def load_notifications(agency: str, bootstrap_servers: str | None = None) -> list[dict[str, Any]]:
    """An agency's notifications in the order they were issued, each id once."""
    codec = get_codec()
    seen: set[str] = set()
    found: list[tuple[int, int, dict[str, Any]]] = []
    try:
        messages = list(read_topic(notification_topic(agency), bootstrap_servers))
    except TopicMissing:
        return []
    for message in messages:
        try:
            record = codec.decode(message.value()).record
        except CodecError:
            continue
        if record["notification_id"] in seen:
            continue  # a redelivery (at-least-once): same id, same content
        seen.add(record["notification_id"])
        found.append((message.timestamp()[1], message.offset() or 0, notification_json(record)))
    return [item for _, _, item in sorted(found, key=lambda entry: (entry[0], entry[1]))]
