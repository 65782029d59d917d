"""`ketenbus.offsets.GroupOffsets` reads a group's committed offsets and the partitions'
low/end offsets from the broker without joining the group."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from group_records import commit, produce

from ketenbus.offsets import GroupOffsets, Offsets
from ketenbus.settings import Settings

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]


class TestGroupOffsets:
    """Committed where the group committed, None where it never did; None for a topic that
    does not exist."""

    def test_committed_low_and_end(
        self, bootstrap_servers: str, topic_factory: Callable[..., str]
    ) -> None:
        topic = topic_factory(partitions=2)
        group = f"test-offsets-{uuid.uuid4().hex[:10]}"
        produce(bootstrap_servers, topic, {0: 5})
        commit(bootstrap_servers, group, topic, {0: 3})
        with GroupOffsets(Settings(bootstrap_servers=bootstrap_servers), group) as reader:
            partitions = reader.partitions(topic)
            absent = reader.partitions(f"test.absent.{uuid.uuid4().hex[:8]}")
            offsets = reader.read(partitions or [])
        assert (
            [(topic, 0), (topic, 1)],
            None,
            {(topic, 0): Offsets(3, 0, 5), (topic, 1): Offsets(None, 0, 0)},
        ) == (partitions, absent, offsets)
