"""The local 3-node KRaft quorum: replication 3, and acks=all writes survive one lost node.

The quorum runs on the first 6 free ports above KETENBUS_KAFKA_PORT + 100 in its own home.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from devtools.embedded_kafka import LocalCluster, free_port_block
from ketenbus.kafka_clients import client_config
from ketenbus.producer import OutgoingRecord, ReliableProducer
from ketenbus.settings import get_settings

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    settings = get_settings()
    quorum = LocalCluster(
        base_port=free_port_block(settings.kafka_port + 100, 6),
        home=tmp_path_factory.mktemp("kafka-cluster-home"),
        version=settings.kafka_version,
        heap=settings.kafka_heap,
        cache_dir=settings.kafka_cache_dir,
        start_timeout=settings.kafka_start_timeout,
    )
    try:
        quorum.start()
        yield quorum
    finally:
        quorum.stop(purge=True)


def _create_topic(cluster: LocalCluster) -> str:
    """A topic with the quorum's default replication factor (3 by broker config)."""
    name = f"test.cluster.{uuid.uuid4().hex[:8]}"
    admin = AdminClient(client_config(cluster.client_settings))
    admin.create_topics([NewTopic(name, num_partitions=3)])[name].result(60)
    # Creation is acknowledged by the controller; each broker learns of it a moment later.
    deadline = time.monotonic() + 60
    for node in cluster.nodes.values():
        node_admin = AdminClient(
            client_config(cluster.client_settings, bootstrap_servers=node.config.bootstrap)
        )
        while len(node_admin.list_topics(name, timeout=30).topics[name].partitions) < 3:
            if time.monotonic() > deadline:
                break  # the assertions below report what is missing
            time.sleep(0.2)
    return name


def _replicas(cluster: LocalCluster, topic: str) -> list[tuple[int, int]]:
    """(replicas, in-sync replicas) per partition."""
    admin = AdminClient(client_config(cluster.client_settings))
    partitions = admin.list_topics(topic, timeout=30).topics[topic].partitions
    return [(len(p.replicas), len(p.isrs)) for _, p in sorted(partitions.items())]


def _record_count(cluster: LocalCluster, topic: str) -> int:
    consumer = Consumer(client_config(cluster.client_settings, group_id=f"count-{uuid.uuid4()}"))
    try:
        total = 0
        for partition in range(3):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 30)
            total += high - low
        return total
    finally:
        consumer.close()


class TestQuorum:
    """Three nodes form one cluster whose topics replicate to all three."""

    def test_every_node_sees_three_brokers(self, cluster: LocalCluster) -> None:
        for node in cluster.nodes.values():
            admin = AdminClient(
                client_config(cluster.client_settings, bootstrap_servers=node.config.bootstrap)
            )
            assert {1, 2, 3} == set(admin.list_topics(timeout=30).brokers)

    def test_default_topic_has_three_in_sync_replicas(self, cluster: LocalCluster) -> None:
        topic = _create_topic(cluster)
        assert [(3, 3)] * 3 == _replicas(cluster, topic)


class TestOneNodeDown:
    """With one node stopped, acks=all writes still succeed (min.insync.replicas=2)."""

    def test_acks_all_produce_succeeds(self, cluster: LocalCluster) -> None:
        topic = _create_topic(cluster)
        cluster.stop_node(3)
        try:
            records = [
                OutgoingRecord(topic=topic, key=f"k{i}", value=f"v{i}".encode()) for i in range(30)
            ]
            with ReliableProducer(settings=cluster.client_settings) as producer:
                reports = producer.send_many(records)
            assert [None] * 30 == [report.error for report in reports]
            assert 30 == _record_count(cluster, topic)
            # The stopped node left every ISR: the writes were acknowledged by two replicas.
            assert [(3, 2)] * 3 == _replicas(cluster, topic)
        finally:
            cluster.start_node(3)
