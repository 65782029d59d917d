"""The progress tracker flags a held partition with lag that does not move, and nothing else."""

from __future__ import annotations

from correlator.progress import Offsets, ProgressTracker

P = ("ketenbus-cases-dwelling-inbox", 3)
Q = ("ketenbus-cases-dwelling-inbox", 4)


def looks(tracker: ProgressTracker, *seen: tuple[float, dict[tuple[str, int], Offsets]]) -> None:
    for now, offsets in seen:
        tracker.observe(now, offsets, busy=False)


class TestOffsets:
    """Lag is what the broker would say: end minus committed (or the low watermark)."""

    def test_lag_from_committed_or_low_watermark(self) -> None:
        assert [994, 10, 0, 5] == [
            Offsets(6, 0, 1000).lag,
            Offsets(None, 90, 100).lag,
            Offsets(100, 0, 100).lag,
            Offsets(3, 95, 100).lag,  # committed below the low watermark (deleted records)
        ]


class TestProgressTracker:
    """A partition is stalled once it had lag and an unmoved committed offset for too long."""

    def test_lag_without_progress_is_stalled_after_the_bound(self) -> None:
        tracker = ProgressTracker(stall_after_s=60)
        stuck = {P: Offsets(6, 0, 1000)}
        looks(tracker, (0, stuck), (30, stuck), (61, stuck))
        assert [(P[0], P[1], 994, 6)] == [
            (s.topic, s.partition, s.lag, s.committed) for s in tracker.stalled(61)
        ]

    def test_not_before_the_bound(self) -> None:
        tracker = ProgressTracker(stall_after_s=60)
        stuck = {P: Offsets(6, 0, 1000)}
        looks(tracker, (0, stuck), (59, stuck))
        assert [] == tracker.stalled(59)

    def test_a_busy_partition_is_not_stalled(self) -> None:
        tracker = ProgressTracker(stall_after_s=60)
        looks(
            tracker,
            *[(t, {P: Offsets(t, 0, 100_000)}) for t in range(0, 200, 10)],
        )
        assert [] == tracker.stalled(190)

    def test_an_idle_partition_without_lag_is_not_stalled(self) -> None:
        tracker = ProgressTracker(stall_after_s=60)
        done = {P: Offsets(500, 0, 500)}
        looks(tracker, (0, done), (100, done), (200, done))
        assert [] == tracker.stalled(200)

    def test_new_records_after_a_quiet_time_start_the_clock(self) -> None:
        tracker = ProgressTracker(stall_after_s=60)
        looks(tracker, (0, {P: Offsets(500, 0, 500)}), (100, {P: Offsets(500, 0, 510)}))
        assert [] == tracker.stalled(150)
        assert [P] == [(s.topic, s.partition) for s in tracker.stalled(161)]

    def test_a_busy_worker_restarts_every_clock(self) -> None:
        tracker = ProgressTracker(stall_after_s=60)
        stuck = {P: Offsets(6, 0, 1000)}
        tracker.observe(0, stuck, busy=False)
        tracker.observe(50, stuck, busy=True)  # recovering tables / the group reassigning
        tracker.observe(100, stuck, busy=False)
        assert [] == tracker.stalled(100)

    def test_only_the_stuck_partition_and_only_while_held(self) -> None:
        tracker = ProgressTracker(stall_after_s=60)
        looks(
            tracker,
            (0, {P: Offsets(6, 0, 1000), Q: Offsets(0, 0, 50)}),
            (70, {P: Offsets(6, 0, 1000), Q: Offsets(50, 0, 50)}),
        )
        assert [P] == [(s.topic, s.partition) for s in tracker.stalled(70)]
        looks(tracker, (80, {Q: Offsets(50, 0, 50)}))  # P moved to another worker
        assert [] == tracker.stalled(200)
        looks(tracker, (210, {P: Offsets(6, 0, 1000)}))  # and came back: a fresh clock
        assert [] == tracker.stalled(260)
