"""Reading topics back in the agency-service tests: exact offsets, or everything."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from ketenbus.kafka_clients import client_config

READ_TIMEOUT_S = 60.0


def _consumer(bootstrap_servers: str) -> Consumer:
    return Consumer(
        {
            **client_config(bootstrap_servers=bootstrap_servers),
            "group.id": f"test-agency-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )


def read_at(bootstrap_servers: str, topic: str, partition: int, offset: int) -> Message:
    """The message at (topic, partition, offset)."""
    consumer = _consumer(bootstrap_servers)
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + READ_TIMEOUT_S
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None and msg.offset() == offset:
                return msg
        raise AssertionError(f"no message at {topic}[{partition}]@{offset}")
    finally:
        consumer.close()


def end_offsets(bootstrap_servers: str, topic: str) -> dict[int, int]:
    """High watermark of each partition (0 for a topic that does not exist yet)."""
    admin = AdminClient(client_config(bootstrap_servers=bootstrap_servers))
    meta = admin.list_topics(timeout=30).topics.get(topic)
    if meta is None or meta.error is not None:
        return {}
    consumer = _consumer(bootstrap_servers)
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            for p in meta.partitions
        }
    finally:
        consumer.close()


def read_range(
    bootstrap_servers: str, topic: str, start: dict[int, int] | None = None
) -> list[Message]:
    """Every message of `topic` from `start` (default: beginning) to its current end."""
    ends = end_offsets(bootstrap_servers, topic)
    start = start or {}
    wanted = {p: end for p, end in ends.items() if end > start.get(p, 0)}
    if not wanted:
        return []
    consumer = _consumer(bootstrap_servers)
    messages: list[Message] = []
    try:
        consumer.assign([TopicPartition(topic, p, start.get(p, OFFSET_BEGINNING)) for p in wanted])
        positions = dict.fromkeys(wanted, -1)
        deadline = time.monotonic() + READ_TIMEOUT_S
        while any(positions[p] < wanted[p] - 1 for p in wanted):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out reading {topic}: {positions} of {wanted}")
            for msg in consumer.consume(500, 1.0):
                if msg.error() is not None:
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(str(msg.error()))
                messages.append(msg)
                positions[msg.partition()] = msg.offset()
            # compacted/transactional gaps: the end may not be a real message
            for p in wanted:
                if consumer.position([TopicPartition(topic, p)])[0].offset >= wanted[p]:
                    positions[p] = wanted[p] - 1
    finally:
        consumer.close()
    return messages


def headers_of(msg: Message) -> dict[str, str]:
    return {k: (v or b"").decode() for k, v in (msg.headers() or [])}


def all_bytes(msgs: Iterable[Message]) -> bytes:
    """Keys, values and headers of messages, concatenated (for leak checks)."""
    parts: list[bytes] = []
    for msg in msgs:
        parts.extend(x for x in (msg.key(), msg.value()) if x)
        parts.extend(k.encode() + (v or b"") for k, v in (msg.headers() or []))
    return b"\x00".join(parts)
