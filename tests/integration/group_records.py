"""Records in a topic and a group's committed offsets on it, set up for a test."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition

from ketenbus.kafka_clients import client_config
from ketenbus.producer import OutgoingRecord, ReliableProducer


def produce(bootstrap: str, topic: str, counts: dict[int, int]) -> None:
    """`counts[partition]` records into each partition."""
    with ReliableProducer(bootstrap) as producer:
        producer.send_many(
            OutgoingRecord(topic, f"r{i}".encode(), partition=partition)
            for partition, n in counts.items()
            for i in range(n)
        )


def commit(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit offsets for a group as a simple (assign-only) consumer: no member remains."""
    consumer = Consumer(
        {
            **client_config(bootstrap_servers=bootstrap),
            "group.id": group,
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.commit(
            offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False
        )
    finally:
        consumer.close()
