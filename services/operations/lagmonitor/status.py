"""Burrow-style status evaluation over a sliding window of lag samples (pure, no I/O).

Per partition the tracker keeps the last `window_size` observations of one consumer
group. The rules, first match wins:

1. REWIND  - the committed offset went backwards between two observations in the window.
2. OK      - the lag was 0 in at least one observation of the window (always, with a
             single observation of lag 0).
3. STOPPED - nobody consumes the partition (the group has no member assigned to it) and
             the committed offset did not move in any observation of the window: no
             commit can come. Kafka's AdminClient does not expose commit timestamps, so
             instead of Burrow's "time since the last commit exceeds the window span"
             ketenbus uses the group's membership as the evidence that commits stopped.
4. STALLED - (full window only) a consumer is assigned, but the committed offset stayed
             the same through the whole window while lag > 0: alive but stuck.
5. WARNING - (full window only) the committed offset advanced, but the lag never shrank
             from one observation to the next: the consumer falls behind.
6. UNKNOWN - the window is not full yet (or holds a single sample): lag, and not enough
             evidence to tell catching up from stuck. A one-shot look never says OK here.
7. OK      - otherwise.

A group's status is its worst partition's (severity: OK < UNKNOWN < WARNING < REWIND <
STALLED < STOPPED). Time to drain is lag / (consumption rate - production rate) over the window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from operations.lagmonitor.model import (
    ClusterSample,
    GroupReport,
    GroupSample,
    LagReport,
    PartitionReport,
    PartitionSample,
    Status,
    worst,
)


@dataclass(frozen=True)
class Observation:
    """One partition of one group at one instant, as kept in the window."""

    at: float
    committed: int | None
    position: int
    end: int
    lag: int
    consumer_present: bool

    @classmethod
    def of(cls, at: float, sample: PartitionSample) -> Observation:
        return cls(
            at=at,
            committed=sample.committed,
            position=sample.position,
            end=sample.end,
            lag=sample.lag,
            consumer_present=sample.consumer_present,
        )


def evaluate_partition(window: Sequence[Observation], window_size: int) -> Status:
    """The status of one partition from its window (oldest first); see the module doc."""
    if not window:
        raise ValueError("cannot evaluate an empty window")
    current = window[-1]
    commits = [o.committed for o in window if o.committed is not None]
    if any(later < earlier for earlier, later in pairwise(commits)):
        return Status.REWIND
    if any(o.lag == 0 for o in window):
        return Status.OK
    unchanged = all(o.committed == current.committed for o in window)
    if unchanged and not current.consumer_present:
        return Status.STOPPED
    if len(window) < max(window_size, 2):
        return Status.UNKNOWN  # lag, and too few samples to say whether it shrinks
    if unchanged:
        return Status.STALLED
    advanced = current.position > window[0].position
    if advanced and all(later.lag >= earlier.lag for earlier, later in pairwise(window)):
        return Status.WARNING
    return Status.OK


def time_to_drain(window: Sequence[Observation]) -> float | None:
    """Seconds until the lag is gone at the rates seen in the window.

    0 when there is no lag; None when it cannot be told (one observation) or the group
    does not gain on the producers (it would never drain at these rates).
    """
    current = window[-1]
    if current.lag == 0:
        return 0.0
    first = window[0]
    elapsed = current.at - first.at
    if elapsed <= 0:
        return None
    consumed = current.position - first.position
    produced = current.end - first.end
    gain_per_second = (consumed - produced) / elapsed
    if gain_per_second <= 0:
        return None
    return current.lag / gain_per_second


def interpolate_lag_seconds(
    history: Sequence[tuple[float, int]], position: int, now: float
) -> float:
    """Age of the record at `position` estimated from (time, log-end offset) samples.

    The time at which the log end passed `position` is interpolated between the two
    samples around it (as kafka-lag-exporter did); before the oldest sample it is
    extrapolated at the average production rate of the history, or, when nothing was
    produced while we watched, bounded by the oldest sample (a lower bound).
    """
    if not history or position >= history[-1][1]:
        return 0.0
    before = [(t, end) for t, end in history if end <= position]
    after = next((t, end) for t, end in history if end > position)
    if before:
        t_a, end_a = before[-1]
        t_b, end_b = after
        # the record at `position` is one of the (end_b - end_a) appended in between:
        # assume they arrived evenly and take the middle of its slot
        share = (position - end_a + 0.5) / (end_b - end_a)
        appended_at = t_a + share * (t_b - t_a)
    else:
        t_first, end_first = history[0]
        t_last, end_last = history[-1]
        if t_last > t_first and end_last > end_first:
            rate = (end_last - end_first) / (t_last - t_first)
            appended_at = t_first - (end_first - position) / rate
        else:
            appended_at = t_first
    return max(0.0, now - appended_at)


def group_time_to_drain(partitions: Iterable[PartitionReport]) -> float | None:
    """Partitions drain in parallel: the group drains when its slowest partition does."""
    drains = [p.time_to_drain for p in partitions if p.lag > 0]
    if any(d is None for d in drains):
        return None
    return max((d for d in drains if d is not None), default=0.0)


class LagTracker:
    """Keeps the sliding windows and turns each new `ClusterSample` into a `LagReport`."""

    def __init__(self, window_size: int = 10, history_size: int = 120) -> None:
        if window_size < 1:
            raise ValueError("window_size must be at least 1")
        self.window_size = window_size
        self._windows: dict[tuple[str, str, int], deque[Observation]] = {}
        # Log-end history per partition, for interpolating lag seconds; flat stretches are
        # kept as their first and last point so the history reaches further back.
        self._history_size = history_size
        self._end_history: dict[tuple[str, int], deque[tuple[float, int]]] = {}

    def observe(self, sample: ClusterSample) -> LagReport:
        self._record_end_offsets(sample)
        seen: set[tuple[str, str, int]] = set()
        groups = []
        for group in sample.groups:
            groups.append(self._report_group(sample.taken_at, group, seen))
        for key in set(self._windows) - seen:  # group or partition went away
            del self._windows[key]
        fullest = max((len(w) for w in self._windows.values()), default=0)
        return LagReport(
            taken_at=sample.taken_at,
            samples=fullest,
            groups=tuple(groups),
            end_offsets=dict(sample.end_offsets),
        )

    def _record_end_offsets(self, sample: ClusterSample) -> None:
        ends = dict(sample.end_offsets)
        for group in sample.groups:
            for p in group.partitions:
                ends.setdefault((p.topic, p.partition), p.end)
        for tp in set(self._end_history) - set(ends):  # topic deleted
            del self._end_history[tp]
        for tp, end in ends.items():
            history = self._end_history.setdefault(tp, deque(maxlen=self._history_size))
            if history and end < history[-1][1]:  # topic re-created: old history is void
                history.clear()
            if len(history) >= 2 and history[-1][1] == history[-2][1] == end:
                history[-1] = (sample.taken_at, end)
            else:
                history.append((sample.taken_at, end))

    def _report_group(
        self, taken_at: float, group: GroupSample, seen: set[tuple[str, str, int]]
    ) -> GroupReport:
        partitions = []
        for p in group.partitions:
            key = (group.group, p.topic, p.partition)
            seen.add(key)
            window = self._windows.setdefault(key, deque(maxlen=self.window_size))
            window.append(Observation.of(taken_at, p))
            partitions.append(
                PartitionReport(
                    topic=p.topic,
                    partition=p.partition,
                    committed=p.committed,
                    end=p.end,
                    lag=p.lag,
                    lag_seconds=self._lag_seconds(taken_at, p),
                    status=evaluate_partition(window, self.window_size),
                    time_to_drain=time_to_drain(window),
                )
            )
        return GroupReport(
            group=group.group,
            state=group.state,
            members=group.members,
            status=worst(p.status for p in partitions),
            lag=sum(p.lag for p in partitions),
            lag_seconds=max((p.lag_seconds for p in partitions), default=0.0),
            time_to_drain=group_time_to_drain(partitions),
            partitions=tuple(partitions),
        )

    def _lag_seconds(self, taken_at: float, p: PartitionSample) -> float:
        if p.lag == 0:
            return 0.0
        if p.head_timestamp is not None:
            return max(0.0, taken_at - p.head_timestamp)
        history = self._end_history.get((p.topic, p.partition), ())
        return interpolate_lag_seconds(list(history), p.position, taken_at)
