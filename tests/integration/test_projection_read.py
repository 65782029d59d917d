"""The read models read a topic to its end or fail saying why: never a silent part of it.

`ketenbus cases` and `ketenbus notifications` are what people and scripts decide on, so a
read that is refused, or that stops getting records, is an error, not a shorter list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from correlator.projection import ReadRefused, read_topic
from ketenbus.settings import Settings

pytestmark = [pytest.mark.broker]


def fill(topic: str, config: dict[str, Any], count: int, partitions: int) -> None:
    producer = Producer(config)
    for n in range(count):
        producer.produce(topic, f"record {n}".encode(), partition=n % partitions)
    producer.flush(30)


@pytest.fixture
def filled(topic_factory: Callable[..., str], kafka_config: Callable[..., dict[str, Any]]) -> str:
    """A fresh topic of 3 partitions holding `record 0` .. `record 29`."""
    topic = topic_factory(partitions=3)
    fill(topic, kafka_config(), 30, 3)
    return topic


def reader(bootstrap_servers: str, principal: str | None = None) -> Settings:
    update: dict[str, Any] = {"bootstrap_servers": bootstrap_servers}
    if principal:
        update["kafka_principal"] = principal
    return Settings().model_copy(update=update)


class TestReadToTheEnd:
    """Every record of every partition is read, up to the end as of the start."""

    def test_all_records(self, bootstrap_servers: str, filled: str) -> None:
        read = [m.value() for m in read_topic(filled, settings=reader(bootstrap_servers))]
        assert sorted(f"record {n}".encode() for n in range(30)) == sorted(read)


class TestRefusedRead:
    """A principal without READ on the topic gets a refusal naming the topic, not []."""

    def test_no_acl_at_all(self, bootstrap_servers: str, filled: str) -> None:
        with pytest.raises(ReadRefused) as refused:
            list(read_topic(filled, timeout=5, settings=reader(bootstrap_servers, "nla")))
        assert f"not allowed to read {filled}" in str(refused.value)

    def test_describe_without_read(
        self, bootstrap_servers: str, filled: str, kafka_config: Callable[..., dict[str, Any]]
    ) -> None:
        topic = filled
        admin = AdminClient(kafka_config())
        describe = (
            ResourceType.TOPIC,
            topic,
            ResourcePatternType.LITERAL,
            "User:nla",
            "*",
            AclOperation.DESCRIBE,
            AclPermissionType.ALLOW,
        )
        for future in admin.create_acls([AclBinding(*describe)]).values():
            future.result(30)
        try:
            with pytest.raises(ReadRefused) as refused:
                list(read_topic(topic, timeout=5, settings=reader(bootstrap_servers, "nla")))
        finally:
            for future in admin.delete_acls([AclBindingFilter(*describe)]).values():
                future.result(30)
        assert f"not allowed to read {topic}" in str(refused.value)
