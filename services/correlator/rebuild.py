"""Reset the correlator's state so a worker rebuilds every case from the source topics.

What is reset: both consumer groups (ingest and aggregates), the internal inbox and
changelog topics, the local table store, and the records of `cases.events` (and, on
request, of every `notifications.*` topic). The agency source topics are the log of
record and are never touched. Replaying them yields the same cases (rules 8 and 9).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from ketenbus.agencies import CASES_TOPIC, NOTIFICATION_PREFIX
from ketenbus.settings import Settings

Progress = Callable[[str], None]


class RebuildFailed(RuntimeError):
    """The reset could not complete (e.g. a correlator still runs in the group)."""


def internal_topics(admin: AdminClient, settings: Settings) -> list[str]:
    prefix = f"{settings.correlator_app_id}-"
    return sorted(t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix))


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


def reset(
    admin: AdminClient, settings: Settings, *, notifications: bool, progress: Progress
) -> None:
    groups = [settings.correlator_group, settings.correlator_app_id]
    for group, future in admin.delete_consumer_groups(groups).items():
        try:
            future.result()
            progress(f"deleted consumer group {group}")
        except KafkaException as exc:
            if "GROUP_ID_NOT_FOUND" not in str(exc):
                raise RebuildFailed(
                    f"cannot delete group {group}: {exc} (is a correlator running?)"
                ) from exc
    internal = internal_topics(admin, settings)
    if internal:
        for topic, future in admin.delete_topics(internal).items():
            future.result()
            progress(f"deleted topic {topic}")
        deadline = time.monotonic() + 60
        while internal_topics(admin, settings) and time.monotonic() < deadline:
            time.sleep(0.5)
    store = settings.home / "correlator"
    if store.exists():
        shutil.rmtree(store)
        progress(f"deleted table store {store}")
    truncated = [CASES_TOPIC]
    if notifications:
        truncated += [
            t for t in admin.list_topics(timeout=10).topics if t.startswith(NOTIFICATION_PREFIX)
        ]
    _truncate(admin, truncated)
    progress(f"truncated {', '.join(truncated)}")
