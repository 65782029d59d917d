"""Samples every consumer group on the cluster through confluent-kafka's AdminClient.

Per group: its state and member count (`describe_consumer_groups`), its committed offsets
(`list_consumer_group_offsets`), the watermarks of those partitions (`list_offsets`
earliest/latest) and, for partitions with lag, the timestamp of the oldest unconsumed
record (read by an assign-only consumer that never commits). Groups with no members are
reported like any other: their committed offsets stay on the broker and so does their lag.

A *required* group (the correlator) must consume every partition of the topics matching
its pattern; partitions it has not committed yet count with lag = end - low watermark,
and when the group does not exist at all it is reported with state ABSENT.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Mapping
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka import Consumer as KafkaConsumer
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported, untyped
    AdminClient,
    ConsumerGroupDescription,
    OffsetSpec,
)

from ketenbus.kafka_clients import client_config as make_client_config
from ketenbus.logging import get_logger
from ketenbus.settings import Settings, get_settings
from operations.lagmonitor.errors import ClusterUnreachable
from operations.lagmonitor.model import ABSENT_STATE, ClusterSample, GroupSample, PartitionSample

log = get_logger("operations.lagmonitor.collector")

#: The reader's group id: it only assigns and never commits, so the group never exists
#: on the broker; it is still excluded should someone commit under it.
READER_GROUP = "ketenbus-lagmonitor-reader"
_CHANGELOG_SUFFIX = "-changelog"  # faust table changelogs: read on recovery, never committed

TP = tuple[str, int]


def required_topics_from(settings: Settings) -> dict[str, str]:
    """The correlator must consume every source topic (its ingest group) and every inbox
    (its faust app's group), committed or not."""
    inboxes = rf"^{re.escape(settings.correlator_app_id)}-.+-inbox$"
    return {
        settings.correlator_group: settings.wait_idle_required_topics,
        settings.correlator_app_id: inboxes,
    }


class HeadReader:
    """Reads the timestamp of the record at a given offset of many partitions at once."""

    def __init__(self, client_config: Mapping[str, Any]) -> None:
        self._consumer = KafkaConsumer(
            {
                "group.id": READER_GROUP,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "latest",  # an offset out of range yields nothing
                "fetch.wait.max.ms": 50,
                "max.partition.fetch.bytes": 65536,
                **client_config,
            }
        )
        # The committed offset of a stuck group stays the same sample after sample.
        self._cache: dict[TP, tuple[int, float]] = {}

    def timestamps(self, positions: Mapping[TP, int], timeout: float) -> dict[TP, float]:
        """Epoch seconds of the record at each (topic, partition) -> offset, where readable."""
        found: dict[TP, float] = {}
        pending: dict[TP, int] = {}
        for tp, offset in positions.items():
            cached = self._cache.get(tp)
            if cached is not None and cached[0] == offset:
                found[tp] = cached[1]
            else:
                pending[tp] = offset
        if pending:
            found.update(self._read(pending, timeout))
        self._cache = {tp: (positions[tp], ts) for tp, ts in found.items()}
        return found

    def _read(self, pending: dict[TP, int], timeout: float) -> dict[TP, float]:
        found: dict[TP, float] = {}
        self._consumer.assign([TopicPartition(t, p, o) for (t, p), o in pending.items()])
        deadline = time.monotonic() + timeout
        try:
            while pending and (left := deadline - time.monotonic()) > 0:
                message = self._consumer.poll(min(left, 0.25))
                if message is None:
                    continue
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                        # a principal that may only describe (the lag monitor's): no
                        # timestamps, lag in seconds unknown; no point waiting for them
                        log.info("head_timestamps_not_authorised", topic=message.topic())
                        break
                    continue
                tp = (message.topic() or "", message.partition() or 0)
                if tp not in pending:
                    continue
                kind, millis = message.timestamp()
                offset = message.offset()
                # a record at or after the offset (compaction or a transaction marker may
                # have removed the one exactly at it)
                if kind != TIMESTAMP_NOT_AVAILABLE and offset is not None and offset >= pending[tp]:
                    found[tp] = millis / 1000.0
                del pending[tp]
                self._consumer.pause([TopicPartition(*tp)])
        finally:
            self._consumer.unassign()
        if pending:
            log.info("head_timestamps_unread", partitions=len(pending))
        return found

    def close(self) -> None:
        self._consumer.close()


class LagCollector:
    """One AdminClient (and one reader) for sampling the cluster again and again."""

    def __init__(
        self,
        bootstrap_servers: str | None = None,
        *,
        required_topics: Mapping[str, str] | None = None,
        read_head_timestamps: bool = True,
        request_timeout: float = 10.0,
        read_timeout: float | None = None,
        client_config: Mapping[str, Any] | None = None,
        settings: Settings | None = None,
    ) -> None:
        settings = settings or get_settings()
        self.bootstrap_servers = bootstrap_servers or settings.bootstrap_servers
        config = make_client_config(
            settings,
            extra={"bootstrap.servers": self.bootstrap_servers, **(client_config or {})},
        )
        self._admin = AdminClient(config)
        self._required = {
            group: re.compile(pattern)
            for group, pattern in (
                required_topics if required_topics is not None else required_topics_from(settings)
            ).items()
        }
        self._timeout = request_timeout
        self._read_timeout = (
            read_timeout if read_timeout is not None else settings.lagmonitor_read_timeout_seconds
        )
        self._reader = HeadReader(config) if read_head_timestamps else None

    @property
    def required_groups(self) -> tuple[str, ...]:
        """Groups that must consume every partition of their topics (the correlator's)."""
        return tuple(self._required)

    def __enter__(self) -> LagCollector:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()

    # -- the sample --------------------------------------------------------------------

    def sample(self, groups: Collection[str] | None = None) -> ClusterSample:
        """Every group on the cluster (or only `groups`), one partition sample each."""
        taken_at = time.time()
        topics = self._topic_partitions()
        group_ids = self._group_ids() if groups is None else list(groups)
        group_ids = [g for g in group_ids if g != READER_GROUP]
        descriptions = self._describe(group_ids)
        committed = self._committed_offsets(list(descriptions))
        for group, pattern in self._required.items():
            wanted = groups is None or group in groups
            if wanted and group not in descriptions and self._required_partitions(pattern, topics):
                descriptions[group] = None  # absent: reported, with the lag it should consume
                committed[group] = {}
        all_partitions = [(t, p) for t, parts in topics.items() for p in parts]
        low = self._list_offsets(all_partitions, OffsetSpec.earliest())  # type: ignore[no-untyped-call]
        end = self._list_offsets(all_partitions, OffsetSpec.latest())  # type: ignore[no-untyped-call]

        drafts: list[tuple[str, str, int, list[PartitionSample]]] = []
        for group, description in descriptions.items():
            state, members, assigned = _membership(description)
            # A faust worker is assigned its tables' changelogs too, but reads them only to
            # recover and never commits there: they are not consumer lag.
            wanted_tps = {
                tp
                for tp in set(committed.get(group, {})) | assigned
                if not tp[0].endswith(_CHANGELOG_SUFFIX)
            }
            if group in self._required:
                wanted_tps |= set(self._required_partitions(self._required[group], topics))
            samples = []
            for tp in sorted(wanted_tps):
                if tp not in end or tp not in low:
                    continue  # topic deleted since the group committed on it
                samples.append(
                    PartitionSample(
                        topic=tp[0],
                        partition=tp[1],
                        committed=committed.get(group, {}).get(tp),
                        low=low[tp],
                        end=end[tp],
                        consumer_present=tp in assigned or (members > 0 and not assigned),
                    )
                )
            drafts.append((group, state, members, samples))

        heads = self._head_timestamps([s for *_, samples in drafts for s in samples])
        sampled = tuple(
            GroupSample(
                group=group,
                state=state,
                members=members,
                partitions=tuple(_with_head(s, heads) for s in samples),
            )
            for group, state, members, samples in sorted(drafts)
        )
        return ClusterSample(taken_at=taken_at, groups=sampled, end_offsets=end)

    # -- admin requests ----------------------------------------------------------------

    def _topic_partitions(self) -> dict[str, list[int]]:
        try:
            metadata = self._admin.list_topics(timeout=self._timeout)
        except KafkaException as exc:
            raise ClusterUnreachable(f"{self.bootstrap_servers}: {exc}") from exc
        return {
            name: sorted(topic.partitions)
            for name, topic in metadata.topics.items()
            if not name.startswith("__") and topic.error is None
        }

    def _group_ids(self) -> list[str]:
        result = _result(self._admin.list_consumer_groups(request_timeout=self._timeout))
        for error in result.errors or []:
            log.warning("group_listing_failed", error=str(error))
        return sorted(g.group_id for g in result.valid or [])

    def _describe(self, group_ids: list[str]) -> dict[str, ConsumerGroupDescription | None]:
        if not group_ids:
            return {}
        futures = self._admin.describe_consumer_groups(group_ids, request_timeout=self._timeout)
        described: dict[str, ConsumerGroupDescription | None] = {}
        for group, future in futures.items():
            try:
                description = future.result()
            except KafkaException as exc:
                log.warning("group_description_failed", group=group, error=str(exc))
                continue
            if description.state.name == "DEAD":  # not on the broker (anymore)
                continue
            described[group] = description
        return described

    def _committed_offsets(self, group_ids: list[str]) -> dict[str, dict[TP, int]]:
        # The API takes one group per request; the requests still run concurrently.
        futures = {
            group: self._admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group)], request_timeout=self._timeout
            )[group]
            for group in group_ids
        }
        offsets: dict[str, dict[TP, int]] = {}
        for group, future in futures.items():
            listed = _result(future)
            offsets[group] = {
                (tp.topic, tp.partition): tp.offset
                for tp in listed.topic_partitions or []
                if tp.error is None and tp.offset >= 0
            }
        return offsets

    def _list_offsets(self, partitions: list[TP], spec: OffsetSpec) -> dict[TP, int]:
        if not partitions:
            return {}
        futures = self._admin.list_offsets(
            {TopicPartition(t, p): spec for t, p in partitions}, request_timeout=self._timeout
        )
        offsets: dict[TP, int] = {}
        for tp, future in futures.items():
            try:
                offsets[(tp.topic, tp.partition)] = _result(future).offset
            except ClusterUnreachable as exc:  # e.g. a partition without a leader right now
                log.warning(
                    "offsets_unlisted", topic=tp.topic, partition=tp.partition, error=str(exc)
                )
        return offsets

    def _required_partitions(
        self, pattern: re.Pattern[str], topics: dict[str, list[int]]
    ) -> list[TP]:
        return [
            (topic, p)
            for topic, parts in topics.items()
            if pattern.match(topic) and not topic.endswith(_CHANGELOG_SUFFIX)
            for p in parts
        ]

    def _head_timestamps(self, samples: list[PartitionSample]) -> dict[TP, float]:
        if self._reader is None:
            return {}
        positions = {(s.topic, s.partition): max(s.position, s.low) for s in samples if s.lag > 0}
        if not positions:
            return {}
        return self._reader.timestamps(positions, self._read_timeout)


def _membership(description: ConsumerGroupDescription | None) -> tuple[str, int, set[TP]]:
    if description is None:
        return ABSENT_STATE, 0, set()
    assigned = {
        (tp.topic, tp.partition)
        for member in description.members
        for tp in member.assignment.topic_partitions
    }
    return description.state.name, len(description.members), assigned


def _with_head(sample: PartitionSample, heads: Mapping[TP, float]) -> PartitionSample:
    head = heads.get((sample.topic, sample.partition))
    return sample if head is None else replace(sample, head_timestamp=head)


def _result(future: Future[Any]) -> Any:
    try:
        return future.result()
    except KafkaException as exc:
        raise ClusterUnreachable(str(exc)) from exc
