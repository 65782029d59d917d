"""Follow an agency's notification topic (`ketenbus subscribe`): decoded notifications from
a chosen start (the end, the beginning, an offset, or a moment), live.

Without a consumer group it assigns the partitions itself and commits nothing, so reading
leaves no group behind; with a group it joins it and commits what was handed out.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from confluent_kafka import Consumer, KafkaError, TopicPartition

from correlator.projection import notification_json
from ketenbus.agencies import notification_topic
from ketenbus.contracts.codec import Codec, CodecError, get_codec
from ketenbus.errors import KetenbusError
from ketenbus.kafka_clients import client_config
from ketenbus.settings import Settings

StartKind = Literal["end", "beginning", "offset", "time", "committed"]
METADATA_TIMEOUT_S = 10.0


class NotificationTopicMissing(KetenbusError):
    """The agency's notification topic does not exist (it is created when first notified)."""


class NotAuthorised(KetenbusError):
    """The broker refused this principal the topic or the consumer group (ACLs)."""


_REFUSALS = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED: "may not read {topic}",
    KafkaError.GROUP_AUTHORIZATION_FAILED: "may not use consumer group {group}"
    " (groups must start with the principal's name)",
}


@dataclass(frozen=True)
class StartAt:
    """Where to start: `committed` (a group's own position; new groups start at the end)."""

    kind: StartKind = "end"
    offset: int | None = None
    moment: datetime | None = None


@dataclass(frozen=True)
class Followed:
    """One record of the topic: the notification, or why it could not be decoded."""

    partition: int
    offset: int
    notification: dict[str, Any] | None
    error: str | None = None


def _positions(
    consumer: Consumer, partitions: list[TopicPartition], start: StartAt
) -> list[TopicPartition]:
    """The concrete offset to start each partition at (never a logical one, so a group can
    store it: a partition that stays empty is still remembered where it was started)."""
    placed = []
    moments: dict[int, int] = {}
    if start.kind == "time" and start.moment is not None:
        ms = int(start.moment.timestamp() * 1000)
        query = [TopicPartition(tp.topic, tp.partition, ms) for tp in partitions]
        found = consumer.offsets_for_times(query, timeout=METADATA_TIMEOUT_S)
        moments = {tp.partition: tp.offset for tp in found}
    committed: dict[int, int] = {}
    if start.kind == "committed":
        found = consumer.committed(partitions, timeout=METADATA_TIMEOUT_S)
        committed = {tp.partition: tp.offset for tp in found}
    for tp in partitions:
        low, high = consumer.get_watermark_offsets(tp, timeout=METADATA_TIMEOUT_S)
        if start.kind == "beginning":
            offset = low
        elif start.kind == "offset":
            offset = min(max(start.offset or 0, low), high)
        elif start.kind == "time":
            # -1: no record at or after that moment yet: start at the end
            offset = moments.get(tp.partition, -1)
            offset = offset if offset >= 0 else high
        elif start.kind == "committed":
            # a group's partition without a commit starts at the end, like a new group
            offset = committed.get(tp.partition, -1)
            offset = offset if offset >= 0 else high
        else:
            offset = high
        placed.append(TopicPartition(tp.topic, tp.partition, offset))
    return placed


def follow(
    agency: str,
    bootstrap_servers: str,
    start: StartAt = StartAt(),
    *,
    group: str | None = None,
    partitions: list[int] | None = None,
    max_records: int | None = None,
    idle_exit: float | None = None,
    settings: Settings | None = None,
) -> Generator[Followed, None, None]:
    """Yield the agency's notifications as they arrive, until `max_records` were yielded or
    nothing arrived for `idle_exit` seconds (or forever). With a group, a record's offset is
    committed after the caller took it (at-least-once)."""
    topic = notification_topic(agency)
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "group.id": group or f"ketenbus-subscribe-{uuid.uuid4()}",  # never joined without --group
        "enable.auto.commit": group is not None,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "latest",
    }
    consumer = Consumer(client_config(settings, extra=config))  # as this process's principal
    codec = get_codec()
    try:
        chosen = _partitions(consumer, topic, agency, partitions, group)
        assigned_at = _start(consumer, topic, chosen, start, group)
        yield from _poll(consumer, codec, assigned_at, topic, group, max_records, idle_exit)
    finally:
        consumer.close()  # with a group: commits the stored offsets


def _partitions(
    consumer: Consumer, topic: str, agency: str, partitions: list[int] | None, group: str | None
) -> list[int]:
    """The partitions to read: the ones asked for, else all of the (existing) topic."""
    described = consumer.list_topics(topic, timeout=METADATA_TIMEOUT_S).topics.get(topic)
    if described is not None and described.error is not None:
        _raise_if_refused(described.error, topic, group)
    if described is None or described.error is not None:
        raise NotificationTopicMissing(
            f"{topic} does not exist yet: it is created when {agency} is first notified"
        )
    return sorted(described.partitions) if partitions is None else partitions


def _start(
    consumer: Consumer, topic: str, chosen: list[int], start: StartAt, group: str | None
) -> list[float]:
    """Assign the partitions (no group) or join the group; the list gets the moment the
    partitions were assigned (a group's assignment comes later, in a poll)."""
    assigned_at: list[float] = []
    if group is None:
        wanted = [TopicPartition(topic, p) for p in chosen]
        consumer.assign(_positions(consumer, wanted, start))
        assigned_at.append(time.monotonic())
        return assigned_at

    def on_assign(c: Consumer, given: list[TopicPartition]) -> None:
        ours = _positions(c, [tp for tp in given if tp.partition in chosen], start)
        c.assign(ours)
        if ours:
            c.store_offsets(offsets=ours)  # committed with the first auto-commit
        assigned_at.append(time.monotonic())

    consumer.subscribe([topic], on_assign=on_assign)
    return assigned_at


def _poll(
    consumer: Consumer,
    codec: Codec,
    assigned_at: list[float],
    topic: str,
    group: str | None,
    max_records: int | None,
    idle_exit: float | None,
) -> Generator[Followed, None, None]:
    """Decode and hand out records until enough were handed out or it stayed quiet."""
    handed_out = 0
    last_seen: float | None = None
    while max_records is None or handed_out < max_records:
        message = consumer.poll(0.5)
        error = message.error() if message is not None else None
        if error is not None:
            _raise_if_refused(error, topic, group)
        if message is None or message.error() is not None:
            quiet_since = last_seen or (assigned_at[0] if assigned_at else None)
            if (
                idle_exit is not None
                and quiet_since
                and time.monotonic() - quiet_since >= idle_exit
            ):
                return
            continue
        last_seen = time.monotonic()
        partition, offset = message.partition() or 0, message.offset() or 0
        try:
            record = codec.decode(message.value()).record
            item = Followed(partition, offset, notification_json(record))
        except CodecError as exc:
            item = Followed(partition, offset, None, str(exc))
        yield item
        handed_out += 1
        if group is not None:
            consumer.store_offsets(message=message)


def _raise_if_refused(error: KafkaError, topic: str, group: str | None) -> None:
    """An authorization error ends the follow with why (not a silent wait for records)."""
    reason = _REFUSALS.get(error.code())
    if reason is not None:
        raise NotAuthorised(
            "refused by the broker: this principal " + reason.format(topic=topic, group=group)
        )
