"""Keep aiokafka's committed-offset refresh alive through errors it does not know.

A partition newly assigned to a worker has no fetch position until aiokafka has asked
the group coordinator for its committed offset. One background task per assignment does
that asking (`GroupCoordinator._commit_refresh_routine`), and aiokafka's fetcher skips
*every* fetch to a broker while one of that broker's partitions waits for such an
answer. aiokafka 0.14 retries only the errors it marks retriable: any other answer to
the OffsetFetch request (an error code it does not list, such as a coordinator that is
moving or not available while the group rebalances, or an authorization not in force
yet) ends the task with an exception nobody reads. From then on the worker fetches
nothing from that broker, changelogs included, until the next rebalance: table recovery
waits for ever ("No event received for active tp ... since recovery start") and the
inbox partitions it was given stay at their lag. Both workers of fault run 6 stood still
like that at the same moment, on exactly their newly assigned partitions.

The refresh is wrapped so that a failed round is logged, counted and retried after the
client's retry back-off, as aiokafka does for the errors it knows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import KafkaError

from ketenbus.logging import get_logger
from ketenbus.metrics import CORRELATOR_OFFSET_REFRESH_FAILURES

log = get_logger("correlator.offset_refresh")


def retried(refresh: Callable[..., Awaitable[bool]]) -> Callable[..., Awaitable[bool]]:
    """`refresh`, answering False ("not done, retry after the back-off") where it raised
    a KafkaError, instead of ending the task that calls it."""

    async def _refresh(coordinator: Any, assignment: Any) -> bool:
        try:
            return await refresh(coordinator, assignment)
        except KafkaError as exc:
            kind = type(exc).__name__
            CORRELATOR_OFFSET_REFRESH_FAILURES.labels(error=kind).inc()
            log.warning(
                "committed_offsets_refresh_failed",
                group=getattr(coordinator, "group_id", None),
                error=kind,
                retriable=bool(getattr(exc, "retriable", False)),
            )
            return False

    _refresh.__wrapped__ = refresh  # type: ignore[attr-defined]
    return _refresh


def install() -> None:
    """Wrap aiokafka's refresh once per process (idempotent)."""
    current = GroupCoordinator._maybe_refresh_commit_offsets
    if getattr(current, "__wrapped__", None) is None:
        GroupCoordinator._maybe_refresh_commit_offsets = retried(current)
