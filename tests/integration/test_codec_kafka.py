"""Avro contracts through a real broker: produce, consume, decode, equal."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Message, TopicPartition

from ketenbus.contracts.codec import Codec, EmptyMessage
from ketenbus.contracts.examples import EVENT_SCHEMAS, example
from ketenbus.kafka_clients import client_config
from ketenbus.producer import DeliveryReport, OutgoingRecord, ReliableProducer
from ketenbus.settings import PROJECT_ROOT

pytestmark = pytest.mark.broker

REPO_SCHEMAS = PROJECT_ROOT / "schemas"
COMPLAINT = "nl.ketenbus.events.Complaint"

TopicFactory = Callable[..., str]  # the `topic_factory` fixture of tests/conftest.py


def produce(bootstrap_servers: str, record: OutgoingRecord) -> DeliveryReport:
    with ReliableProducer(bootstrap_servers) as producer:
        return producer.send(record)


def consume_at(bootstrap_servers: str, report: DeliveryReport, timeout: float = 30.0) -> Message:
    """The message a delivery report points at, read back by a plain consumer."""
    consumer = Consumer(
        {
            **client_config(bootstrap_servers=bootstrap_servers),
            "group.id": f"test-codec-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.assign([TopicPartition(report.topic, report.partition, report.offset)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                return message
        raise AssertionError(f"nothing read at {report.topic}/{report.partition}@{report.offset}")
    finally:
        consumer.close()


class TestEventTypesThroughKafka:
    """Each event type survives the common producer, the broker and a consumer unchanged."""

    @pytest.mark.parametrize("schema", EVENT_SCHEMAS)
    def test_round_trip_equal(
        self, bootstrap_servers: str, topic_factory: TopicFactory, schema: str
    ) -> None:
        codec = Codec(REPO_SCHEMAS)
        topic = topic_factory(partitions=1)
        record = example(schema)
        key = str(record.get("event_id") or record.get("notification_id") or record["case_id"])
        report = produce(
            bootstrap_servers,
            OutgoingRecord(topic=topic, value=codec.encode(schema, record), key=key),
        )
        message = consume_at(bootstrap_servers, report)
        decoded = codec.decode(message.value())
        assert (key.encode(), schema, record) == (message.key(), decoded.schema, decoded.record)


class TestEvolutionThroughKafka:
    """A message written under release 1 is read from the topic under a v2 schema."""

    def test_v1_message_on_topic_reads_under_v2(
        self, bootstrap_servers: str, topic_factory: TopicFactory, tmp_path: Path
    ) -> None:
        v2_dir = tmp_path / "v2"
        shutil.copytree(REPO_SCHEMAS, v2_dir, ignore=shutil.ignore_patterns("baseline"))
        path = v2_dir / f"{COMPLAINT}.avsc"
        schema = json.loads(path.read_text())
        schema["fields"].append({"name": "channel", "type": ["null", "string"], "default": None})
        path.write_text(json.dumps(schema))
        topic = topic_factory(partitions=1)
        written = Codec(REPO_SCHEMAS).encode(COMPLAINT, example(COMPLAINT))
        report = produce(bootstrap_servers, OutgoingRecord(topic=topic, value=written))
        v2 = Codec(v2_dir, history_dirs=[REPO_SCHEMAS])
        decoded = v2.decode(consume_at(bootstrap_servers, report).value())
        assert example(COMPLAINT) | {"channel": None} == decoded.record

    def test_tombstone_read_from_topic_is_an_empty_message_error(
        self, bootstrap_servers: str, topic_factory: TopicFactory
    ) -> None:
        topic = topic_factory(partitions=1)
        report = produce(bootstrap_servers, OutgoingRecord(topic=topic, value=None, key="k"))
        value = consume_at(bootstrap_servers, report).value()
        with pytest.raises(EmptyMessage):
            Codec(REPO_SCHEMAS).decode(value)
