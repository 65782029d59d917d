"""Does each inbox partition this worker holds make progress? (pure logic, no I/O)

A worker can hold a partition that has lag and still never consume it: faust keeps it
paused, the group is stable, nothing is logged and the process idles. Seen from outside
only the committed offset says so. This tracker remembers, per assigned partition, when
its committed offset last moved (or when it last had nothing to do) and names the
partitions that have had lag without any progress for longer than `stall_after_s`.

Never flagged: a partition with lag 0 (nothing to do), one whose committed offset moved
since the last look (busy), one the worker got only recently, and any partition while the
group is reassigning partitions (Kafka's own join/sync, which waits for the session of a
killed member to time out; faust's table recovery after it counts, but its progress does
too: `busy=True`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# the broker's view of one partition, read through `ketenbus.offsets.GroupOffsets`
from ketenbus.offsets import Offsets, Partition

__all__ = ["Offsets", "Partition", "ProgressTracker", "Stalled"]


@dataclass(frozen=True)
class Stalled:
    """A partition with lag whose committed offset did not move for `idle_s` seconds."""

    topic: str
    partition: int
    lag: int
    committed: int | None
    idle_s: float

    def as_json(self) -> dict[str, object]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "lag": self.lag,
            "committed": self.committed,
            "idle_s": round(self.idle_s, 1),
        }


@dataclass
class _Track:
    committed: int | None
    lag: int
    since: float  # last progress (monotonic seconds)


class ProgressTracker:
    """Per assigned partition: when it last made progress; which ones stalled."""

    def __init__(self, stall_after_s: float) -> None:
        self.stall_after_s = stall_after_s
        self._tracks: dict[Partition, _Track] = {}

    def observe(self, now: float, seen: Mapping[Partition, Offsets], *, busy: bool) -> None:
        """One look at every partition the worker holds now (others are forgotten).

        `busy`: the worker is doing something that legitimately keeps the partitions
        still (the group is reassigning them, or table recovery advanced since the last
        look); every clock restarts.
        """
        for gone in set(self._tracks) - set(seen):
            del self._tracks[gone]
        for partition, offsets in seen.items():
            lag = offsets.lag
            track = self._tracks.get(partition)
            if track is None:
                self._tracks[partition] = _Track(offsets.committed, lag, now)
                continue
            # lag that appeared since the last look counts from now
            moved = offsets.committed != track.committed or track.lag == 0
            if busy or lag == 0 or moved:
                track.since = now
            track.committed = offsets.committed
            track.lag = lag

    def stalled(self, now: float) -> list[Stalled]:
        """Partitions with lag and no progress for longer than `stall_after_s`."""
        return [
            Stalled(topic, partition, track.lag, track.committed, now - track.since)
            for (topic, partition), track in sorted(self._tracks.items())
            if track.lag > 0 and now - track.since > self.stall_after_s
        ]

    def last_progress(self, now: float) -> dict[Partition, float]:
        """Seconds since each held partition last made progress (or had nothing to do)."""
        return {partition: now - track.since for partition, track in self._tracks.items()}
