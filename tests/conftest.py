"""Fixtures shared by every test: a real Kafka broker and throwaway topics on it.

`bootstrap_servers` uses the broker at `KETENBUS_BOOTSTRAP_SERVERS` when one answers there,
otherwise it starts the embedded broker (`devtools.embedded_kafka`) on `KETENBUS_KAFKA_PORT`
under `KETENBUS_HOME` for the session and stops it at the end. It never skips.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress

import pytest
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from devtools.embedded_kafka import LocalBroker, broker_answers
from ketenbus.settings import get_settings

TopicFactory = Callable[..., str]


@pytest.fixture(scope="session")
def bootstrap_servers() -> Iterator[str]:
    """host:port of a live broker for the whole session."""
    settings = get_settings()
    if broker_answers(settings.bootstrap_servers):
        yield settings.bootstrap_servers
        return
    broker = LocalBroker.from_settings(settings)
    address = broker.start()
    if address != settings.bootstrap_servers:
        # Code under test reads settings, and services it spawns read the environment.
        os.environ["KETENBUS_BOOTSTRAP_SERVERS"] = address
        get_settings.cache_clear()
    try:
        yield address
    finally:
        broker.stop()


@pytest.fixture
def topic_factory(bootstrap_servers: str, request: pytest.FixtureRequest) -> Iterator[TopicFactory]:
    """Create uniquely named topics for one test (deleted afterwards).

    `topic_factory(partitions=3, replication_factor=1, config=None, prefix="test") -> name`
    """
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    test_name = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:80]
    created: list[str] = []

    def create(
        partitions: int = 3,
        replication_factor: int = 1,
        config: dict[str, str] | None = None,
        prefix: str = "test",
    ) -> str:
        name = f"{prefix}.{test_name}.{uuid.uuid4().hex[:8]}"
        futures = admin.create_topics(
            [NewTopic(name, partitions, replication_factor, config=config or {})]
        )
        futures[name].result(30)
        created.append(name)
        return name

    yield create
    if created:
        for future in admin.delete_topics(created, operation_timeout=30).values():
            with suppress(Exception):  # cleanup only: a leftover test topic harms nobody
                future.result(30)


@pytest.fixture
def unique_topic(topic_factory: TopicFactory) -> str:
    """A fresh 3-partition topic for one test."""
    return topic_factory()
