"""A correlator worker reports `/healthz` 503 when an inbox partition it holds has lag and
its committed offset does not move for KETENBUS_CORRELATOR_STALL_SECONDS, and stays
healthy when it merely has nothing to do.

`PartitionWatch` is driven against the real broker with the assignment faust would give
it (a worker that actually holds a partition without consuming it cannot be produced on
purpose any more: the faust defect that made them is worked around); the idle case runs a
real worker end to end.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from convergence import RECORDS

from correlator.health import PartitionWatch
from devtools.sandbox import Backbone
from ketenbus.settings import Settings

pytestmark = [pytest.mark.broker, pytest.mark.timeout(600)]

STALL_S = 3.0


def healthz(port: int) -> tuple[int, dict[str, Any]]:
    """(status, document) of a worker's /healthz; (0, {}) while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())
    except OSError:
        return 0, {}


def holding(*partitions: tuple[str, int]) -> Any:
    """What PartitionWatch reads of a faust app: its consumer's current assignment."""
    tps = {TopicPartition(topic, partition) for topic, partition in partitions}
    return SimpleNamespace(_consumer=SimpleNamespace(assignment=lambda: tps))


def stalled_partitions(watch: PartitionWatch) -> list[tuple[str, int, int]]:
    asyncio.run(watch.look())
    return [(s.topic, s.partition, s.lag) for s in watch.stalled()]


class TestPartitionWatch:
    """Against the broker: lag without committed progress for longer than the bound is
    stalled; no lag, or a moving committed offset, is not."""

    def test_stalled_until_the_group_commits(
        self,
        bootstrap_servers: str,
        topic_factory: Callable[..., str],
        kafka_config: Callable[..., dict[str, Any]],
    ) -> None:
        topic = topic_factory(partitions=2)
        producer = Producer(kafka_config())
        for n in range(5):
            producer.produce(topic, f"record {n}".encode(), partition=0)
        producer.flush(30)
        group = f"ketenbus-cases-test-{topic[-8:]}"
        settings = Settings(correlator_app_id=group, correlator_stall_seconds=STALL_S)
        watch = PartitionWatch(holding((topic, 0), (topic, 1)), settings, [topic])
        try:
            at_first = stalled_partitions(watch)
            time.sleep(STALL_S + 1)
            later = stalled_partitions(watch)
            committer = Consumer(kafka_config(group_id=group, enable_auto_commit=False))
            committer.commit(offsets=[TopicPartition(topic, 0, 5)], asynchronous=False)
            committer.close()
            after_commit = stalled_partitions(watch)
        finally:
            watch.close()
        assert ([], [(topic, 0, 5)], []) == (at_first, later, after_commit)


class TestIdleWorkerHealthy:
    """A worker with nothing to do for longer than the bound is not stalled."""

    def test_idle_worker_answers_200(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("KETENBUS_CORRELATOR_STALL_SECONDS", str(STALL_S))
        backbone = Backbone(tmp_path).start()
        try:
            backbone.publish(RECORDS[:30])
            backbone.wait_idle(120)
            time.sleep(3 * STALL_S)
            code, document = healthz(backbone.web_port)
        finally:
            backbone.stop()
        assert (200, True, []) == (code, document["ok"], document["stalled"])
