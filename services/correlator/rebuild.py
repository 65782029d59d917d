"""Reset the correlator's state so a worker rebuilds every case from the source topics.

What is reset: both consumer groups (ingest and aggregates), the internal inbox and
changelog topics, the local table store, and the records of `cases.events` (and, on
request, of every `notifications.*` topic). The agency source topics are the log of
record and are never touched. Replaying them yields the same cases (rules 8 and 9).

Rules: docs/correlation.md#rule-8, docs/correlation.md#rule-9.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from correlator.errors import CorrelatorError
from correlator.topology import internal_prefix
from ketenbus.agencies import CASES_TOPIC, NOTIFICATION_PREFIX, SOURCE_PREFIX
from ketenbus.kafka_clients import client_config
from ketenbus.settings import Settings
from ketenbus.topics.admin import apply_topics, load_topics

Progress = Callable[[str], None]


class RebuildFailed(CorrelatorError, RuntimeError):
    """The reset could not complete (e.g. a correlator still runs in the group)."""


def internal_topics(admin: AdminClient, settings: Settings) -> list[str]:
    prefix = internal_prefix(settings)
    return sorted(t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix))


def _delete_topics(admin: AdminClient, topics: list[str], progress: Progress) -> None:
    if not topics:
        return
    for topic, future in admin.delete_topics(topics).items():
        future.result()
        progress(f"deleted topic {topic}")
    deadline = time.monotonic() + 60
    while set(topics) & set(admin.list_topics(timeout=10).topics):
        if time.monotonic() > deadline:
            raise RebuildFailed(f"topics still present after deletion: {topics}")
        time.sleep(0.5)


def _truncate(admin: AdminClient, topics: list[str]) -> None:
    """Delete every record of `topics` (the topics themselves stay, with their ACLs)."""
    metadata = admin.list_topics(timeout=10)
    partitions = [
        TopicPartition(topic, p, -1)  # -1: up to the high watermark
        for topic in topics
        if topic in metadata.topics
        for p in metadata.topics[topic].partitions
    ]
    if partitions:
        for future in admin.delete_records(partitions).values():
            future.result()


def _delete_group(admin: AdminClient, group: str, progress: Progress) -> None:
    """Delete a consumer group; a member that died without leaving expires within its
    session timeout (45 s by default), so a non-empty group is retried that long."""
    deadline = time.monotonic() + 60
    while True:
        try:
            admin.delete_consumer_groups([group])[group].result()
            progress(f"deleted consumer group {group}")
            return
        except KafkaException as exc:
            code = exc.args[0].code()
            if code == KafkaError.GROUP_ID_NOT_FOUND:
                return
            if code != KafkaError.NON_EMPTY_GROUP or time.monotonic() > deadline:
                raise RebuildFailed(
                    f"cannot delete group {group}: {exc} (is a correlator still running?)"
                ) from exc
            time.sleep(2)


def reset(
    admin: AdminClient, settings: Settings, *, notifications: bool, progress: Progress
) -> None:
    for group in (settings.correlator_group, settings.correlator_app_id):
        _delete_group(admin, group, progress)
    _delete_topics(admin, internal_topics(admin, settings), progress)
    store = settings.home / "correlator"
    if store.exists():
        shutil.rmtree(store)
        progress(f"deleted table store {store}")
    # cases.events is compacted and Kafka refuses to delete records of a compacted topic:
    # it is deleted and created again from topics.yaml.
    _delete_topics(admin, [CASES_TOPIC], progress)
    report, _ = apply_topics(admin, load_topics(settings.topics_file))
    if report.errors:
        raise RebuildFailed("topics apply: " + "; ".join(report.errors))
    progress(f"recreated {CASES_TOPIC}")
    if notifications:
        truncated = sorted(
            t for t in admin.list_topics(timeout=10).topics if t.startswith(NOTIFICATION_PREFIX)
        )
        _truncate(admin, truncated)
        progress(f"truncated {', '.join(truncated)}")


def source_events(settings: Settings) -> int:
    """How many records the agency source topics hold (what a rebuild replays)."""
    consumer = Consumer(client_config(settings, group_id=f"{settings.correlator_app_id}-count"))
    try:
        metadata = consumer.list_topics(timeout=10)
        total = 0
        for topic, described in metadata.topics.items():
            if topic.startswith(SOURCE_PREFIX):
                for partition in described.partitions:
                    low, high = consumer.get_watermark_offsets(
                        TopicPartition(topic, partition), timeout=10
                    )
                    total += high - low
        return total
    finally:
        consumer.close()
