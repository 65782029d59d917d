"""Consumer-lag monitoring against the real broker: offsets, lag, status, wait-idle, metrics.

Every test uses its own topics and consumer groups and samples only those groups, so other
engineers' groups on a shared broker do not matter. Windows are short (3 samples) and
driven by explicit samples, not by sleeping and measuring.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from group_records import commit, produce
from prometheus_client import CollectorRegistry, generate_latest

from ketenbus import metrics
from ketenbus.kafka_clients import client_config
from operations.lagmonitor.collector import LagCollector
from operations.lagmonitor.idle import check_idle, wait_until_idle
from operations.lagmonitor.model import ABSENT_STATE, Status
from operations.lagmonitor.service import LagMonitor
from operations.lagmonitor.status import LagTracker

pytestmark = pytest.mark.broker

TopicFactory = Callable[..., str]
CLI = [sys.executable, "-c", "from ketenbus.cli import main; main()"]


def new_group() -> str:
    return f"test-lag-{uuid.uuid4().hex[:10]}"


class GroupMember:
    """A subscribed consumer in a group: consumes and commits on request, stays a member."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        self.consumer = Consumer(
            {
                **client_config(bootstrap_servers=bootstrap),
                "group.id": group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "session.timeout.ms": 45000,
            }
        )
        self.consumer.subscribe([topic])
        self.topic = topic
        self.bootstrap = bootstrap

    def catch_up(self, timeout: float = 30.0) -> None:
        """Consume to the current end of every partition, then commit synchronously."""
        admin = AdminClient(client_config(bootstrap_servers=self.bootstrap))
        metadata = admin.list_topics(self.topic, timeout=10)
        partitions = sorted(metadata.topics[self.topic].partitions)
        ends = {
            p: self.consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)[1]
            for p in partitions
        }
        positions = dict.fromkeys(partitions, 0)
        deadline = time.monotonic() + timeout
        while any(positions[p] < ends[p] for p in partitions) or not self.consumer.assignment():
            assert time.monotonic() < deadline, f"did not catch up: {positions} vs {ends}"
            message = self.consumer.poll(0.5)
            if message is not None and message.error() is None:
                positions[message.partition()] = message.offset() + 1
        self.consumer.commit(
            offsets=[TopicPartition(self.topic, p, ends[p]) for p in partitions],
            asynchronous=False,
        )

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
def collector(bootstrap_servers: str) -> Iterator[LagCollector]:
    # no required groups: the correlator's topics on a shared broker are not our business
    with LagCollector(bootstrap_servers, required_topics={}, read_timeout=5.0) as c:
        yield c


@pytest.fixture
def members() -> Iterator[list[GroupMember]]:
    started: list[GroupMember] = []
    yield started
    for member in started:
        with suppress(Exception):
            member.close()


class TestCollectorMatchesBroker:
    """Committed offsets, end offsets and lag are exactly what the broker itself reports."""

    def test_offsets_and_lag_match_admin_and_watermarks(
        self, bootstrap_servers: str, topic_factory: TopicFactory, collector: LagCollector
    ) -> None:
        topic = topic_factory(partitions=3)
        group = new_group()
        produce(bootstrap_servers, topic, {0: 5, 1: 7, 2: 9})
        commit(bootstrap_servers, group, topic, {0: 2, 1: 7, 2: 4})

        sample = collector.sample([group])

        admin = AdminClient(client_config(bootstrap_servers=bootstrap_servers))
        listed = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
        committed = {tp.partition: tp.offset for tp in listed[group].result(10).topic_partitions}
        probe = Consumer(
            {**client_config(bootstrap_servers=bootstrap_servers), "group.id": "probe"}
        )
        try:
            high = {
                p: probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(3)
            }
        finally:
            probe.close()
        expected = [(p, committed[p], high[p], high[p] - committed[p]) for p in range(3)]
        reported = sample.group(group)
        assert reported is not None
        assert expected == [(p.partition, p.committed, p.end, p.lag) for p in reported.partitions]
        assert [(0, 2, 5, 3), (1, 7, 7, 0), (2, 4, 9, 5)] == expected

    def test_end_offsets_of_every_topic(
        self, bootstrap_servers: str, topic_factory: TopicFactory, collector: LagCollector
    ) -> None:
        topic = topic_factory(partitions=2)
        produce(bootstrap_servers, topic, {0: 3, 1: 1})
        sample = collector.sample([])
        assert {(topic, 0): 3, (topic, 1): 1} == {
            tp: end for tp, end in sample.end_offsets.items() if tp[0] == topic
        }


class TestGroupWithoutMembers:
    """A group whose consumers all left still shows its lag (and is STOPPED)."""

    def test_empty_group_reported_with_lag(
        self,
        bootstrap_servers: str,
        topic_factory: TopicFactory,
        collector: LagCollector,
        members: list[GroupMember],
    ) -> None:
        topic = topic_factory(partitions=1)
        group = new_group()
        produce(bootstrap_servers, topic, {0: 4})
        member = GroupMember(bootstrap_servers, group, topic)
        members.append(member)
        member.catch_up()
        member.close()
        produce(bootstrap_servers, topic, {0: 6})

        report = LagTracker(window_size=3).observe(collector.sample())

        reported = report.group(group)
        assert reported is not None
        assert ("EMPTY", 0, 6, Status.STOPPED) == (
            reported.state,
            reported.members,
            reported.lag,
            reported.status,
        )
        assert reported.lag_seconds > 0


class TestStoppedConsumer:
    """A consumer that stops while producers go on turns STALLED/STOPPED, then OK on resuming."""

    def test_member_that_stops_polling_is_stalled_and_recovers(
        self,
        bootstrap_servers: str,
        topic_factory: TopicFactory,
        collector: LagCollector,
        members: list[GroupMember],
    ) -> None:
        topic = topic_factory(partitions=1)
        group = new_group()
        produce(bootstrap_servers, topic, {0: 3})
        member = GroupMember(bootstrap_servers, group, topic)
        members.append(member)
        member.catch_up()
        tracker = LagTracker(window_size=3)
        first = tracker.observe(collector.sample([group]))

        # the member stays in the group (heartbeats go on) but consumes nothing more
        reports = []
        for _ in range(3):
            produce(bootstrap_servers, topic, {0: 2})
            time.sleep(1.0)
            reports.append(tracker.observe(collector.sample([group])))

        member.catch_up()
        resumed = tracker.observe(collector.sample([group]))

        statuses = [first.status] + [r.status for r in reports] + [resumed.status]
        assert [Status.OK, Status.OK, Status.OK, Status.STALLED, Status.OK] == statuses
        lag_seconds = [r.group(group).lag_seconds for r in reports]  # type: ignore[union-attr]
        assert lag_seconds == sorted(lag_seconds) and lag_seconds[0] < lag_seconds[-1]
        assert [2, 4, 6, 0] == [r.group(group).lag for r in (*reports, resumed)]  # type: ignore[union-attr]
        assert 1 == resumed.group(group).members  # type: ignore[union-attr]

    def test_consumer_that_leaves_is_stopped_and_recovers(
        self,
        bootstrap_servers: str,
        topic_factory: TopicFactory,
        collector: LagCollector,
        members: list[GroupMember],
    ) -> None:
        topic = topic_factory(partitions=2)
        group = new_group()
        produce(bootstrap_servers, topic, {0: 2, 1: 2})
        member = GroupMember(bootstrap_servers, group, topic)
        members.append(member)
        member.catch_up()
        member.close()
        tracker = LagTracker(window_size=3)

        reports = []
        for _ in range(2):
            produce(bootstrap_servers, topic, {0: 1, 1: 2})
            time.sleep(1.0)
            reports.append(tracker.observe(collector.sample([group])))

        again = GroupMember(bootstrap_servers, group, topic)
        members.append(again)
        again.catch_up()
        resumed = tracker.observe(collector.sample([group]))

        assert [Status.STOPPED, Status.STOPPED, Status.OK] == [
            r.status for r in (*reports, resumed)
        ]
        first, second = (r.group(group) for r in reports)
        assert first is not None and second is not None
        assert (3, 6) == (first.lag, second.lag)
        assert first.lag_seconds < second.lag_seconds


class TestRewind:
    """A group whose committed offset goes backwards shows REWIND."""

    def test_rewound_group(
        self, bootstrap_servers: str, topic_factory: TopicFactory, collector: LagCollector
    ) -> None:
        topic = topic_factory(partitions=1)
        group = new_group()
        produce(bootstrap_servers, topic, {0: 10})
        commit(bootstrap_servers, group, topic, {0: 8})
        tracker = LagTracker(window_size=3)
        before = tracker.observe(collector.sample([group]))

        commit(bootstrap_servers, group, topic, {0: 3})
        after = tracker.observe(collector.sample([group]))

        assert (Status.STOPPED, Status.REWIND) == (before.status, after.status)
        assert (2, 7) == (before.group(group).lag, after.group(group).lag)  # type: ignore[union-attr]


class TestLagSeconds:
    """Lag in seconds is the age of the record at the committed offset."""

    def test_age_of_oldest_unconsumed_record(
        self, bootstrap_servers: str, topic_factory: TopicFactory, collector: LagCollector
    ) -> None:
        topic = topic_factory(partitions=1)
        group = new_group()
        produce(bootstrap_servers, topic, {0: 2})
        commit(bootstrap_servers, group, topic, {0: 1})
        probe = Consumer(
            {
                **client_config(bootstrap_servers=bootstrap_servers),
                "group.id": "probe",
                "enable.auto.commit": False,
            }
        )
        probe.assign([TopicPartition(topic, 0, 1)])
        message = None
        deadline = time.monotonic() + 20
        while message is None and time.monotonic() < deadline:
            polled = probe.poll(0.5)
            message = polled if polled is not None and polled.error() is None else None
        probe.close()
        assert message is not None

        sample = collector.sample([group])

        head = sample.group(group).partitions[0].head_timestamp  # type: ignore[union-attr]
        assert message.timestamp()[1] / 1000.0 == head


class TestRequiredTopics:
    """The correlator must consume every partition of its topics, committed or not."""

    def test_absent_group_with_data_is_not_idle(
        self, bootstrap_servers: str, topic_factory: TopicFactory
    ) -> None:
        topic = topic_factory(partitions=2, prefix="req")
        group = new_group()
        produce(bootstrap_servers, topic, {0: 3, 1: 1})
        pattern = f"^{re.escape(topic)}$"
        with LagCollector(bootstrap_servers, required_topics={group: pattern}) as c:
            sample = c.sample([group])
        reported = sample.group(group)
        assert reported is not None
        assert (ABSENT_STATE, 0, [(0, None, 3), (1, None, 1)]) == (
            reported.state,
            reported.members,
            [(p.partition, p.committed, p.lag) for p in reported.partitions],
        )
        verdict = check_idle(sample, correlator_group=group)
        assert (False, True) == (verdict.idle, verdict.correlator_missing)

    def test_uncommitted_partition_of_an_existing_group_counts(
        self, bootstrap_servers: str, topic_factory: TopicFactory
    ) -> None:
        seen = topic_factory(partitions=1, prefix="req")
        brand_new = topic_factory(partitions=1, prefix="req")
        changelog = f"{brand_new}-changelog"  # faust table changelogs are never committed
        admin = AdminClient(client_config(bootstrap_servers=bootstrap_servers))
        admin.create_topics([NewTopic(changelog, 1, 1)])[changelog].result(30)
        try:
            group = new_group()
            produce(bootstrap_servers, seen, {0: 2})
            produce(bootstrap_servers, brand_new, {0: 5})
            produce(bootstrap_servers, changelog, {0: 1})
            commit(bootstrap_servers, group, seen, {0: 2})
            pattern = f"^({re.escape(seen)}|{re.escape(brand_new)}.*)$"
            with LagCollector(bootstrap_servers, required_topics={group: pattern}) as c:
                reported = c.sample([group]).group(group)
        finally:
            admin.delete_topics([changelog])[changelog].result(30)
        assert reported is not None
        assert {(seen, 2, 0), (brand_new, None, 5)} == {
            (p.topic, p.committed, p.lag) for p in reported.partitions
        }


class TestWaitIdle:
    """wait-idle returns once a group caught up, and fails on timeout while one lags."""

    def test_returns_once_group_caught_up(
        self,
        bootstrap_servers: str,
        topic_factory: TopicFactory,
        members: list[GroupMember],
    ) -> None:
        topic = topic_factory(partitions=2)
        group = new_group()
        produce(bootstrap_servers, topic, {0: 4, 1: 4})
        commit(bootstrap_servers, group, topic, {0: 1, 1: 1})
        waiting = subprocess.Popen(
            [*CLI, "wait-idle", "--group", group, "--timeout", "90"],
            env={**os.environ, "KETENBUS_BOOTSTRAP_SERVERS": bootstrap_servers},
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            member = GroupMember(bootstrap_servers, group, topic)
            members.append(member)
            member.catch_up()
            _, stderr = waiting.communicate(timeout=120)
        finally:
            if waiting.poll() is None:
                waiting.kill()
        assert 0 == waiting.returncode, stderr
        assert "idle after" in stderr

    def test_times_out_while_group_lags(
        self, bootstrap_servers: str, topic_factory: TopicFactory
    ) -> None:
        topic = topic_factory(partitions=1)
        group = new_group()
        produce(bootstrap_servers, topic, {0: 3})
        commit(bootstrap_servers, group, topic, {0: 1})
        done = subprocess.run(
            [*CLI, "wait-idle", "--group", group, "--timeout", "2"],
            env={**os.environ, "KETENBUS_BOOTSTRAP_SERVERS": bootstrap_servers},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert 1 == done.returncode
        assert f"{group}: lag 2, no members ({topic}/0: 2)" in done.stderr

    def test_in_process_wait_needs_consecutive_idle_polls(
        self, bootstrap_servers: str, topic_factory: TopicFactory, collector: LagCollector
    ) -> None:
        topic = topic_factory(partitions=1)
        group = new_group()
        produce(bootstrap_servers, topic, {0: 3})
        commit(bootstrap_servers, group, topic, {0: 3})
        outcome = wait_until_idle(
            collector, correlator_group="none", groups=[group], timeout=30, poll_interval=0.1
        )
        assert (True, ()) == (outcome.idle, outcome.last.lagging if outcome.last else None)


class TestLagCommand:
    """`ketenbus lag` prints JSON and exits with the worst status."""

    def test_json_and_exit_status(
        self, bootstrap_servers: str, topic_factory: TopicFactory
    ) -> None:
        topic = topic_factory(partitions=1)
        group = new_group()
        produce(bootstrap_servers, topic, {0: 5})
        commit(bootstrap_servers, group, topic, {0: 2})
        done = subprocess.run(
            [*CLI, "lag", "--json", "--group", group],
            env={**os.environ, "KETENBUS_BOOTSTRAP_SERVERS": bootstrap_servers},
            capture_output=True,
            text=True,
            timeout=120,
        )
        report = json.loads(done.stdout)
        assert 2 == done.returncode, done.stderr
        assert [(group, "STOPPED", 3, [(topic, 0, 2, 5, 3)])] == [
            (
                g["group"],
                g["status"],
                g["lag"],
                [
                    (p["topic"], p["partition"], p["committed"], p["end"], p["lag"])
                    for p in g["partitions"]
                ],
            )
            for g in report["groups"]
        ]


class TestService:
    """The lag monitor exposes Prometheus metrics for every group, empty ones included."""

    def test_run_once_publishes_gauges(
        self, bootstrap_servers: str, topic_factory: TopicFactory, collector: LagCollector
    ) -> None:
        topic = topic_factory(partitions=1)
        group = new_group()
        produce(bootstrap_servers, topic, {0: 5})
        commit(bootstrap_servers, group, topic, {0: 2})
        registry = CollectorRegistry()
        registry.register(metrics.LAG_GAUGES)

        LagMonitor(collector, LagTracker(window_size=3), interval=1.0).run_once()

        exposed = generate_latest(registry).decode()
        labels = f'group="{group}",partition="0",topic="{topic}"'
        for line in (
            f"ketenbus_consumergroup_lag{{{labels}}} 3.0",
            f"ketenbus_consumergroup_committed_offset{{{labels}}} 2.0",
            f'ketenbus_consumergroup_status{{group="{group}",status="STOPPED"}} 4.0',
            f'ketenbus_consumergroup_members{{group="{group}",state="EMPTY"}} 0.0',
            f'ketenbus_topic_end_offset{{partition="0",topic="{topic}"}} 5.0',
        ):
            assert line in exposed.splitlines()

    def test_python_m_lagmonitor_serves_metrics(
        self, bootstrap_servers: str, topic_factory: TopicFactory
    ) -> None:
        topic = topic_factory(partitions=1)
        group = new_group()
        produce(bootstrap_servers, topic, {0: 4})
        commit(bootstrap_servers, group, topic, {0: 1})
        port = _free_port()
        service = subprocess.Popen(
            [sys.executable, "-m", "operations.lagmonitor"],
            env={
                **os.environ,
                "KETENBUS_BOOTSTRAP_SERVERS": bootstrap_servers,
                "KETENBUS_LAGMONITOR_PORT": str(port),
                "KETENBUS_LAGMONITOR_INTERVAL_SECONDS": "0.5",
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        expected = (
            f'ketenbus_consumergroup_lag{{group="{group}",partition="0",topic="{topic}"}} 3.0'
        )
        url = f"http://127.0.0.1:{port}/metrics"
        exposed = ""
        try:
            deadline = time.monotonic() + 60
            while expected not in exposed.splitlines() and time.monotonic() < deadline:
                time.sleep(0.5)
                with suppress(OSError), urllib.request.urlopen(url, timeout=5) as response:
                    exposed = response.read().decode()
        finally:
            service.terminate()
            _, stderr = service.communicate(timeout=30)
        assert expected in exposed.splitlines()
        assert 0 == service.returncode, stderr
        assert "lagmonitor_stopped" in stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
