"""What the correlator worker makes sure of before faust and the ingest stage start.

On a fresh cluster the group coordinator does not exist yet: `__consumer_offsets` is
created by the first group lookup, and until its partition for a group is loaded every
group request fails (`GroupCoordinatorNotAvailableError`, "Marking the coordinator dead").
aiokafka rides this out during the join, but a worker that joins in that window starts
its life in aiokafka's error paths. So the worker first asks for the committed offsets
of both its groups, which creates `__consumer_offsets` and returns only once the
coordinators answer; the agents then join a cluster whose coordinators are ready.
"""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from correlator.errors import CorrelatorError
from ketenbus.kafka_clients import client_config
from ketenbus.logging import get_logger
from ketenbus.settings import Settings

log = get_logger("correlator.startup")

#: Answers that mean "the coordinator is on its way": ask again.
_NOT_YET = {
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.NOT_COORDINATOR,
    KafkaError._TIMED_OUT,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError._TRANSPORT,
    KafkaError._WAIT_COORD,
}


class CoordinatorUnavailable(CorrelatorError, RuntimeError):
    """A group coordinator did not answer within the start-up budget."""


def wait_for_group_coordinators(settings: Settings, topic: str, timeout: float = 120.0) -> None:
    """Block until the coordinators of the correlator's two groups answer.

    Asks each group's committed offset of `topic` partition 0 through a consumer that
    never joins (a plain OffsetFetch; the admin API's `list_consumer_group_offsets`
    crashed librdkafka 2.x in its request-timeout path here, twice, on a loaded box).
    Raises CoordinatorUnavailable after `timeout` seconds; the worker then stops and is
    restarted by its supervisor instead of joining a group it cannot commit in.
    """
    deadline = time.monotonic() + timeout
    for group in (settings.correlator_app_id, settings.correlator_group):
        consumer = Consumer(client_config(settings, group_id=group, enable_auto_commit=False))
        try:
            while True:
                try:
                    consumer.committed([TopicPartition(topic, 0)], timeout=10)
                    break
                except KafkaException as exc:
                    error = exc.args[0]
                    if error.code() not in _NOT_YET or time.monotonic() > deadline:
                        raise CoordinatorUnavailable(f"group {group}: {error.str()}") from exc
                    log.info("group_coordinator_awaited", group=group, error=error.name())
                    time.sleep(0.5)
        finally:
            consumer.close()
        log.info("group_coordinator_ready", group=group)
