"""A correlator started on a brand-new cluster (no `__consumer_offsets` yet, so its group
coordinators do not exist when it starts) commits its inbox offsets all the way to the end.

The hang of issue 12: the faust group `ketenbus-cases` committed nothing while its agents
worked, then the agents stopped. Here the worker must reach "every inbox partition
committed up to its end offset" on its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from correlator.topology import INBOXES, inbox_topic
from devtools.sandbox import Backbone
from devtools.synthetic import synthetic_records
from ketenbus.kafka_clients import client_config
from ketenbus.settings import Settings, get_settings

pytestmark = pytest.mark.broker

#: How long the worker may take to catch up on a busy shared machine (not a timing claim:
#: a worker that stopped committing never gets there).
PATIENCE_S = 300


def _end_offsets(settings: Settings, topics: list[str]) -> dict[tuple[str, int], int]:
    consumer = Consumer(client_config(settings, group_id="t-end"))
    try:
        ends = {}
        for topic in topics:
            for partition in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
                ends[(topic, partition)] = high
        return ends
    finally:
        consumer.close()


def _committed(admin: AdminClient, group: str) -> dict[tuple[str, int], int]:
    request = [ConsumerGroupTopicPartitions(group)]
    result = admin.list_consumer_group_offsets(request)[group].result()
    return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions}


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Backbone]:
    backbone = Backbone(tmp_path)
    try:
        yield backbone
    finally:
        backbone.stop()


class TestCommitsOnFreshCluster:
    """The aggregates' group commits every inbox partition up to its end on a new cluster."""

    def test_inbox_offsets_committed_to_the_end(self, fresh: Backbone) -> None:
        fresh.broker.start()
        fresh.cli("topics", "apply")
        admin = AdminClient(client_config(fresh.client_settings))
        offsets_topic_before = "__consumer_offsets" in admin.list_topics(timeout=10).topics
        fresh.start_correlator()
        fresh.publish(synthetic_records(600, seed=5))
        settings = get_settings()
        inboxes = [inbox_topic(settings, inbox) for inbox in INBOXES]
        deadline = time.monotonic() + PATIENCE_S
        behind: dict[tuple[str, int], tuple[int, int]] = {}
        while time.monotonic() < deadline:
            time.sleep(2)
            ends = _end_offsets(fresh.client_settings, inboxes)
            committed = _committed(admin, settings.correlator_app_id)
            behind = {
                tp: (committed.get(tp, -1), end)
                for tp, end in ends.items()
                if end > 0 and committed.get(tp, -1) < end
            }
            if ends and not behind:
                break
        assert (False, {}) == (offsets_topic_before, behind)
