"""Fixtures shared by every test: a real, secured Kafka broker and throwaway topics on it.

`bootstrap_servers` uses the broker at `KETENBUS_BOOTSTRAP_SERVERS` when one answers there
(to the admin's credentials), otherwise it starts the embedded broker
(`devtools.embedded_kafka`: SASL_SSL, SCRAM-SHA-512, ACLs enforced) on `KETENBUS_KAFKA_PORT`
under `KETENBUS_HOME` for the session and stops it at the end. It never skips. Either way
topics.yaml's topics and ACLs are applied once, so services run as their own principals.

Tests connect as the platform admin (the default `KETENBUS_KAFKA_PRINCIPAL`) through
`ketenbus.kafka_clients.client_config`, or the `kafka_config` fixture; a test about another
principal passes `principal=`. Subprocesses find the credentials through
`KETENBUS_KAFKA_SECRETS_DIR`, set here, even when they run under another `KETENBUS_HOME`.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from devtools.embedded_kafka import LocalBroker, broker_answers
from ketenbus.kafka_clients import client_config
from ketenbus.security.acls import sync_acls
from ketenbus.settings import get_settings
from ketenbus.topics.admin import apply_topics, load_topics, make_admin

TopicFactory = Callable[..., str]
KafkaConfig = Callable[..., dict[str, Any]]


def _apply_topics_and_acls() -> None:
    admin = make_admin()
    spec = load_topics(get_settings().topics_file)
    report, _ = apply_topics(admin, spec)
    assert [] == report.errors
    sync_acls(admin, spec)


@pytest.fixture(scope="session")
def bootstrap_servers() -> Iterator[str]:
    """host:port of a live, secured broker for the whole session."""
    settings = get_settings()
    os.environ["KETENBUS_KAFKA_SECRETS_DIR"] = str(settings.secrets_dir)
    if broker_answers(settings.bootstrap_servers):
        _apply_topics_and_acls()
        yield settings.bootstrap_servers
        return
    broker = LocalBroker.from_settings(settings)
    address = broker.start()
    if address != settings.bootstrap_servers:
        # Code under test reads settings, and services it spawns read the environment.
        os.environ["KETENBUS_BOOTSTRAP_SERVERS"] = address
    get_settings.cache_clear()
    try:
        _apply_topics_and_acls()
        yield address
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_config(bootstrap_servers: str) -> KafkaConfig:
    """`kafka_config(principal=None, **overrides)`: librdkafka settings for the session's
    broker (as the admin unless `principal` says otherwise)."""

    def make(principal: str | None = None, **overrides: Any) -> dict[str, Any]:
        return client_config(principal=principal, bootstrap_servers=bootstrap_servers, **overrides)

    return make


@pytest.fixture
def topic_factory(bootstrap_servers: str, request: pytest.FixtureRequest) -> Iterator[TopicFactory]:
    """Create uniquely named topics for one test (deleted afterwards).

    `topic_factory(partitions=3, replication_factor=1, config=None, prefix="test") -> name`
    """
    admin = AdminClient(client_config(bootstrap_servers=bootstrap_servers))
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
