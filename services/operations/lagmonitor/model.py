"""What the collector observes and what the evaluation reports: plain values, no I/O.

A `ClusterSample` is one look at the cluster at one instant: per consumer group, per
partition, the committed offset and the partition's watermarks (and, when it could be
read, the timestamp of the oldest unconsumed record). The status evaluation in
`operations.lagmonitor.status` turns a sliding window of samples into a `LagReport`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: Group state the collector reports for a required group (the correlator) that does not
#: exist on the cluster at all: nobody ever joined it, or its offsets expired.
ABSENT_STATE = "ABSENT"


class Status(enum.IntEnum):
    """Burrow-style partition/group status; the value is its metric code.

    UNKNOWN (-1): lag > 0 but too few samples to tell a consumer that is catching up from
    one that is stuck. Severity orders OK < UNKNOWN < WARNING < REWIND < STALLED < STOPPED
    (`worst`): an unknown partition hides no known problem, and none hides it.
    """

    UNKNOWN = -1
    OK = 0
    WARNING = 1
    REWIND = 2
    STALLED = 3
    STOPPED = 4

    @property
    def severity(self) -> float:
        return 0.5 if self is Status.UNKNOWN else float(self)

    @property
    def exit_code(self) -> int:
        """Exit status of `ketenbus lag`: 0 OK, 1 WARNING, 2 REWIND/STALLED/STOPPED,
        4 UNKNOWN (3 is taken by "cluster unreachable")."""
        if self is Status.UNKNOWN:
            return 4
        return min(int(self), 2)


def worst(statuses: Iterable[Status]) -> Status:
    """The most severe status (OK when there is none)."""
    return max(statuses, key=lambda status: status.severity, default=Status.OK)


@dataclass(frozen=True)
class PartitionSample:
    """One partition as one group sees it at one instant."""

    topic: str
    partition: int
    committed: int | None  # None: the group never committed an offset here
    low: int  # low watermark (oldest offset still in the log)
    end: int  # log-end offset (high watermark)
    consumer_present: bool  # a member of the group is assigned this partition
    head_timestamp: float | None = None  # epoch s of the record at the committed offset

    @property
    def position(self) -> int:
        """Where the group will resume: its committed offset, else the low watermark."""
        return self.committed if self.committed is not None else self.low

    @property
    def lag(self) -> int:
        """Messages not consumed yet: end - committed (end - low when nothing committed)."""
        return max(0, self.end - self.position)


@dataclass(frozen=True)
class GroupSample:
    group: str
    state: str  # Kafka's group state name (STABLE, EMPTY, ...) or ABSENT
    members: int
    partitions: tuple[PartitionSample, ...]

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)


@dataclass(frozen=True)
class ClusterSample:
    taken_at: float  # epoch seconds
    groups: tuple[GroupSample, ...]
    end_offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    def group(self, group_id: str) -> GroupSample | None:
        return next((g for g in self.groups if g.group == group_id), None)


@dataclass(frozen=True)
class PartitionReport:
    topic: str
    partition: int
    committed: int | None
    end: int
    lag: int
    lag_seconds: float
    status: Status
    time_to_drain: float | None  # seconds; None when not draining or not yet known

    def to_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "committed": self.committed,
            "end": self.end,
            "lag": self.lag,
            "lag_seconds": round(self.lag_seconds, 3),
            "status": self.status.name,
            "time_to_drain": _round(self.time_to_drain),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartitionReport:
        return cls(
            topic=data["topic"],
            partition=int(data["partition"]),
            committed=data["committed"],
            end=int(data["end"]),
            lag=int(data["lag"]),
            lag_seconds=float(data["lag_seconds"]),
            status=Status[data["status"]],
            time_to_drain=data["time_to_drain"],
        )


@dataclass(frozen=True)
class GroupReport:
    group: str
    state: str
    members: int
    status: Status
    lag: int
    lag_seconds: float  # the oldest unconsumed record over all partitions
    time_to_drain: float | None
    partitions: tuple[PartitionReport, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "state": self.state,
            "members": self.members,
            "status": self.status.name,
            "lag": self.lag,
            "lag_seconds": round(self.lag_seconds, 3),
            "time_to_drain": _round(self.time_to_drain),
            "partitions": [p.to_dict() for p in self.partitions],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupReport:
        return cls(
            group=data["group"],
            state=data["state"],
            members=int(data["members"]),
            status=Status[data["status"]],
            lag=int(data["lag"]),
            lag_seconds=float(data["lag_seconds"]),
            time_to_drain=data["time_to_drain"],
            partitions=tuple(PartitionReport.from_dict(p) for p in data["partitions"]),
        )


@dataclass(frozen=True)
class LagReport:
    taken_at: float
    samples: int  # how many samples the window held for the freshest partition
    groups: tuple[GroupReport, ...]
    end_offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def status(self) -> Status:
        """The worst status over every group (OK when there are no groups)."""
        return worst(g.status for g in self.groups)

    def group(self, group_id: str) -> GroupReport | None:
        return next((g for g in self.groups if g.group == group_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "taken_at": self.taken_at,
            "samples": self.samples,
            "status": self.status.name,
            "groups": [g.to_dict() for g in self.groups],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LagReport:
        """A report as `to_dict` wrote it (the lag monitor's /status), without end offsets."""
        return cls(
            taken_at=float(data["taken_at"]),
            samples=int(data["samples"]),
            groups=tuple(GroupReport.from_dict(g) for g in data["groups"]),
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
