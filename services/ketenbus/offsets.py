"""One consumer group's committed offsets and its partitions' low/end offsets, from the broker.

`GroupOffsets` reads them through a librdkafka consumer that carries the group's id but
never joins it (OffsetFetch and ListOffsets only): reading never rebalances the group,
whatever state its own members are in. The correlator's partition watch and commit guard
(`correlator.health.BrokerOffsets`) and `ketenbus webhook status` read through it.

A consumer rather than the admin API: `AdminClient.list_consumer_group_offsets` crashed
librdkafka 2.x in its request-timeout path inside a correlator worker (see
`correlator.startup`). The lag monitor, a process of its own that samples every group at
once, uses the admin API (`operations.lagmonitor.collector`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from ketenbus.kafka_clients import client_config
from ketenbus.settings import Settings

#: (topic, partition)
Partition = tuple[str, int]


@dataclass(frozen=True)
class Offsets:
    """What the broker says about one partition: the group's committed offset (None: the
    group never committed on it) and the partition's low and end offsets."""

    committed: int | None
    low: int
    end: int

    @property
    def lag(self) -> int:
        start = self.low if self.committed is None else max(self.committed, self.low)
        return max(0, self.end - start)


class GroupOffsets:
    """Reads `group`'s committed offsets and the low/end offsets of partitions, again and
    again through one client; `overrides` go to `client_config` (e.g. a `client_id`).
    Raises confluent_kafka's KafkaException when the broker does not answer in `timeout`."""

    def __init__(
        self, settings: Settings, group: str, timeout: float = 10.0, **overrides: Any
    ) -> None:
        self.timeout = timeout
        self._consumer = Consumer(
            client_config(settings, group_id=group, enable_auto_commit=False, **overrides)
        )

    def __enter__(self) -> GroupOffsets:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def partitions(self, topic: str) -> list[Partition] | None:
        """Every partition of `topic`, in order; None when the topic does not exist."""
        described = self._consumer.list_topics(topic, timeout=self.timeout).topics.get(topic)
        if described is None or described.error is not None:
            return None
        return [(topic, p) for p in sorted(described.partitions)]

    def read(self, partitions: Iterable[Partition]) -> dict[Partition, Offsets]:
        """The group's committed offset and the low/end offsets of each partition."""
        wanted = [TopicPartition(t, p) for t, p in partitions]
        if not wanted:
            return {}
        found: dict[Partition, Offsets] = {}
        for tp in self._consumer.committed(wanted, timeout=self.timeout):
            low, end = self._consumer.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), timeout=self.timeout, cached=False
            )
            offset = tp.offset if tp.offset >= 0 else None
            found[(tp.topic, tp.partition)] = Offsets(offset, low, end)
        return found

    def close(self) -> None:
        self._consumer.close()
