"""`ketenbus.offsets.GroupOffsets` reads a group's committed offsets and the partitions'
low/end offsets from the broker without joining the group."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from ketenbus.offsets import GroupOffsets, Offsets
from ketenbus.settings import Settings

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]


class TestGroupOffsets:
    """Committed where the group committed, None where it never did; None for a topic that
    does not exist."""

    def test_committed_low_and_end(
        self,
        bootstrap_servers: str,
        topic_factory: Callable[..., str],
        kafka_config: Callable[..., dict[str, Any]],
    ) -> None:
        topic = topic_factory(partitions=2)
        producer = Producer(kafka_config())
        for n in range(5):
            producer.produce(topic, f"record {n}".encode(), partition=0)
        producer.flush(30)
        group = f"ketenbus-cases-test-{topic[-8:]}"
        committer = Consumer(kafka_config(group_id=group, enable_auto_commit=False))
        committer.commit(offsets=[TopicPartition(topic, 0, 3)], asynchronous=False)
        committer.close()
        with GroupOffsets(Settings(bootstrap_servers=bootstrap_servers), group) as reader:
            partitions = reader.partitions(topic)
            absent = reader.partitions(f"test.absent.{uuid.uuid4().hex[:8]}")
            offsets = reader.read(partitions or [])
        assert (
            [(topic, 0), (topic, 1)],
            None,
            {(topic, 0): Offsets(3, 0, 5), (topic, 1): Offsets(None, 0, 0)},
        ) == (partitions, absent, offsets)
