"""Burrow-style lag status evaluation, time to drain and lag-seconds estimation (no I/O)."""

from __future__ import annotations

import pytest

from operations.lagmonitor.model import (
    ClusterSample,
    GroupSample,
    LagReport,
    PartitionReport,
    PartitionSample,
    Status,
    worst,
)
from operations.lagmonitor.status import (
    LagTracker,
    Observation,
    evaluate_partition,
    group_time_to_drain,
    interpolate_lag_seconds,
    time_to_drain,
)


def window(
    *points: tuple[int | None, int], consumer: bool = True, step: float = 1.0
) -> list[Observation]:
    """Observations one `step` apart from (committed, end) pairs."""
    return [
        Observation(
            at=100.0 + i * step,
            committed=committed,
            position=committed if committed is not None else 0,
            end=end,
            lag=max(0, end - (committed if committed is not None else 0)),
            consumer_present=consumer,
        )
        for i, (committed, end) in enumerate(points)
    ]


class TestEvaluatePartitionOk:
    """A partition whose lag was zero anywhere in the window is OK."""

    def test_single_observation_without_lag_is_ok(self) -> None:
        assert Status.OK == evaluate_partition(window((10, 10)), window_size=3)

    def test_lag_zero_once_in_a_full_window_is_ok(self) -> None:
        assert Status.OK == evaluate_partition(window((10, 10), (10, 15), (10, 20)), 3)

    def test_lag_zero_wins_even_without_consumer(self) -> None:
        assert Status.OK == evaluate_partition(window((10, 10), consumer=False), 3)

    def test_single_observation_with_lag_and_a_consumer_is_unknown(self) -> None:
        assert Status.UNKNOWN == evaluate_partition(window((10, 20)), 3)

    def test_window_not_full_with_lag_and_a_consumer_is_unknown(self) -> None:
        assert Status.UNKNOWN == evaluate_partition(window((10, 20), (10, 30)), 3)

    def test_consumer_gaining_on_the_producer_is_ok(self) -> None:
        assert Status.OK == evaluate_partition(window((10, 30), (20, 32), (30, 35)), 3)

    def test_lag_shrinking_once_is_ok(self) -> None:
        assert Status.OK == evaluate_partition(window((10, 20), (15, 30), (25, 32)), 3)

    def test_empty_window_is_refused(self) -> None:
        with pytest.raises(ValueError):
            evaluate_partition([], 3)


class TestEvaluatePartitionWarning:
    """Offsets advance but the lag never shrinks over a full window: WARNING."""

    def test_lag_keeps_growing(self) -> None:
        assert Status.WARNING == evaluate_partition(window((10, 20), (15, 30), (20, 40)), 3)

    def test_lag_constant_while_advancing(self) -> None:
        assert Status.WARNING == evaluate_partition(window((10, 20), (15, 25), (20, 30)), 3)

    def test_not_before_the_window_is_full(self) -> None:
        assert Status.UNKNOWN == evaluate_partition(window((10, 20), (15, 30)), 3)


class TestEvaluatePartitionStalled:
    """A consumer is assigned, the committed offset does not move and lag > 0: STALLED."""

    def test_offset_unchanged_over_full_window(self) -> None:
        assert Status.STALLED == evaluate_partition(window((10, 20), (10, 25), (10, 30)), 3)

    def test_offset_unchanged_and_nothing_produced(self) -> None:
        assert Status.STALLED == evaluate_partition(window((10, 20), (10, 20), (10, 20)), 3)

    def test_never_committed_but_assigned(self) -> None:
        assert Status.STALLED == evaluate_partition(window((None, 5), (None, 5), (None, 6)), 3)

    def test_window_of_one_never_stalls(self) -> None:
        # a window needs two observations to see whether anything moved
        assert Status.UNKNOWN == evaluate_partition(window((10, 20)), 1)


class TestEvaluatePartitionStopped:
    """Nobody consumes the partition, the offset does not move and lag > 0: STOPPED."""

    def test_single_observation_without_consumer(self) -> None:
        assert Status.STOPPED == evaluate_partition(window((10, 20), consumer=False), 3)

    def test_full_window_without_consumer(self) -> None:
        assert (
            evaluate_partition(window((10, 20), (10, 25), (10, 30), consumer=False), 3)
            == Status.STOPPED
        )

    def test_last_commit_still_in_window_is_not_stopped_yet(self) -> None:
        # the group committed 25 then left: the window still shows its progress
        assert (
            evaluate_partition(window((10, 30), (25, 40), (25, 41), consumer=False), 3) == Status.OK
        )

    def test_absent_group_with_data_to_consume(self) -> None:
        assert Status.STOPPED == evaluate_partition(window((None, 7), consumer=False), 3)


class TestEvaluatePartitionRewind:
    """The committed offset went backwards within the window: REWIND."""

    def test_offset_lower_than_before(self) -> None:
        assert Status.REWIND == evaluate_partition(window((10, 20), (12, 20), (5, 20)), 3)

    def test_rewind_beats_lag_zero(self) -> None:
        assert Status.REWIND == evaluate_partition(window((20, 20), (0, 20)), 3)

    def test_rewind_seen_across_a_missing_commit(self) -> None:
        assert Status.REWIND == evaluate_partition(window((10, 20), (None, 20), (4, 20)), 3)

    def test_rewind_leaves_with_the_window(self) -> None:
        assert Status.OK == evaluate_partition(window((5, 20), (15, 20), (20, 20)), 3)

    def test_first_commit_after_none_is_not_a_rewind(self) -> None:
        assert Status.UNKNOWN == evaluate_partition(window((None, 20), (3, 20)), 3)


class TestStatusSeverity:
    """Group status is the worst; the exit status maps 0 OK, 1 WARNING, 2 the known
    problems, 4 UNKNOWN."""

    def test_order(self) -> None:
        severity = [
            Status.OK,
            Status.UNKNOWN,
            Status.WARNING,
            Status.REWIND,
            Status.STALLED,
            Status.STOPPED,
        ]
        assert severity == sorted(Status, key=lambda status: status.severity)

    def test_unknown_partition_makes_an_ok_group_unknown_not_a_stalled_one(self) -> None:
        assert (Status.UNKNOWN, Status.STALLED) == (
            worst([Status.OK, Status.UNKNOWN]),
            worst([Status.UNKNOWN, Status.STALLED]),
        )

    @pytest.mark.parametrize(
        ("status", "code"),
        [
            (Status.OK, 0),
            (Status.WARNING, 1),
            (Status.REWIND, 2),
            (Status.STALLED, 2),
            (Status.STOPPED, 2),
            (Status.UNKNOWN, 4),
        ],
    )
    def test_exit_code(self, status: Status, code: int) -> None:
        assert code == status.exit_code

    def test_empty_report_is_ok(self) -> None:
        assert Status.OK == LagReport(taken_at=0.0, samples=0, groups=()).status


class TestTimeToDrain:
    """Lag divided by how fast the consumer gains on the producers."""

    def test_no_lag_drains_now(self) -> None:
        assert 0.0 == time_to_drain(window((10, 10)))

    def test_single_observation_unknown(self) -> None:
        assert time_to_drain(window((10, 20))) is None

    def test_gaining(self) -> None:
        # consumed 40, produced 20 over 2 s: gains 10/s; lag 10 -> 1 s
        assert 1.0 == time_to_drain(window((0, 30), (20, 35), (40, 50)))

    def test_not_gaining_never_drains(self) -> None:
        assert time_to_drain(window((0, 10), (10, 20), (20, 30))) is None

    def test_falling_behind_never_drains(self) -> None:
        assert time_to_drain(window((0, 10), (1, 20))) is None

    def test_same_instant_unknown(self) -> None:
        assert time_to_drain(window((0, 10), (5, 10), step=0.0)) is None

    def test_group_waits_for_slowest_partition(self) -> None:
        parts = [_report(lag=5, drain=2.0), _report(lag=9, drain=7.5), _report(lag=0, drain=0.0)]
        assert 7.5 == group_time_to_drain(parts)

    def test_group_never_drains_if_one_partition_does_not(self) -> None:
        assert group_time_to_drain([_report(lag=5, drain=2.0), _report(lag=1, drain=None)]) is None

    def test_group_without_lag_drains_now(self) -> None:
        assert 0.0 == group_time_to_drain([_report(lag=0, drain=0.0)])


class TestInterpolateLagSeconds:
    """Age of the record at a position from (time, log-end offset) samples."""

    def test_no_history(self) -> None:
        assert 0.0 == interpolate_lag_seconds([], 5, now=10.0)

    def test_position_at_end_is_zero(self) -> None:
        assert 0.0 == interpolate_lag_seconds([(0.0, 10)], 10, now=50.0)

    def test_between_two_samples(self) -> None:
        # 10 records appended between t=0 and t=10: offset 14 is the 5th, mid-slot 4.5 s
        assert 45.5 == interpolate_lag_seconds([(0.0, 10), (10.0, 20)], 14, now=50.0)

    def test_exactly_at_a_flat_sample(self) -> None:
        # 2 records appended between t=5 and t=10: offset 10 is the 1st, mid-slot 6.25 s
        history = [(0.0, 10), (5.0, 10), (10.0, 12)]
        assert 43.75 == interpolate_lag_seconds(history, 10, now=50.0)

    def test_extrapolated_before_history(self) -> None:
        # 1 record/s observed; offset 5 lies 5 records before the first sample at t=10
        assert 35.0 == interpolate_lag_seconds([(10.0, 10), (20.0, 20)], 5, now=40.0)

    def test_flat_history_bounded_by_oldest_sample(self) -> None:
        assert 30.0 == interpolate_lag_seconds([(10.0, 10), (20.0, 10)], 5, now=40.0)

    def test_never_negative(self) -> None:
        assert 0.0 == interpolate_lag_seconds([(0.0, 10), (10.0, 20)], 19, now=5.0)


def _report(*, lag: int, drain: float | None) -> PartitionReport:
    return PartitionReport(
        topic="t",
        partition=0,
        committed=0,
        end=lag,
        lag=lag,
        lag_seconds=0.0,
        status=Status.OK,
        time_to_drain=drain,
    )


def partition(
    committed: int | None,
    end: int,
    *,
    topic: str = "events.nla",
    number: int = 0,
    low: int = 0,
    consumer: bool = True,
    head: float | None = None,
) -> PartitionSample:
    return PartitionSample(
        topic=topic,
        partition=number,
        committed=committed,
        low=low,
        end=end,
        consumer_present=consumer,
        head_timestamp=head,
    )


def cluster(at: float, *groups: GroupSample) -> ClusterSample:
    ends = {(p.topic, p.partition): p.end for g in groups for p in g.partitions}
    return ClusterSample(taken_at=at, groups=groups, end_offsets=ends)


def group(name: str, *partitions: PartitionSample, members: int = 1) -> GroupSample:
    return GroupSample(
        group=name, state="STABLE" if members else "EMPTY", members=members, partitions=partitions
    )


class TestPartitionSample:
    """Lag is end minus committed offset, or end minus low watermark when nothing is committed."""

    def test_lag_from_committed(self) -> None:
        assert 7 == partition(3, 10).lag

    def test_lag_without_commit_counts_from_low_watermark(self) -> None:
        assert 6 == partition(None, 10, low=4).lag

    def test_lag_never_negative(self) -> None:
        assert 0 == partition(12, 10).lag


class TestLagTracker:
    """The tracker keeps one window per group partition and reports every group."""

    def test_stopped_consumer_then_resumed(self) -> None:
        tracker = LagTracker(window_size=3)
        statuses = []
        for at, committed, end, consumer in [
            (0.0, 10, 10, True),
            (1.0, 10, 15, False),
            (2.0, 10, 20, False),
            (3.0, 10, 25, False),
            (4.0, 25, 25, True),
        ]:
            report = tracker.observe(
                cluster(at, group("g", partition(committed, end, consumer=consumer)))
            )
            statuses.append(report.status)
        assert [Status.OK, Status.OK, Status.OK, Status.STOPPED, Status.OK] == statuses

    def test_stalled_consumer(self) -> None:
        tracker = LagTracker(window_size=3)
        reports = [
            tracker.observe(cluster(float(at), group("g", partition(10, 20 + at))))
            for at in range(3)
        ]
        assert [Status.UNKNOWN, Status.UNKNOWN, Status.STALLED] == [r.status for r in reports]

    def test_group_is_its_worst_partition(self) -> None:
        tracker = LagTracker(window_size=1)
        report = tracker.observe(
            cluster(
                0.0,
                group("g", partition(5, 5, number=0), partition(1, 9, number=1, consumer=False)),
            )
        )
        assert (Status.STOPPED, 8) == (report.group("g").status, report.group("g").lag)

    def test_every_group_reported_including_empty_ones(self) -> None:
        tracker = LagTracker()
        report = tracker.observe(
            cluster(
                0.0,
                group("a", partition(5, 5)),
                group("b", partition(2, 9, consumer=False), members=0),
            )
        )
        assert [("a", 1, 0), ("b", 0, 7)] == [(g.group, g.members, g.lag) for g in report.groups]

    def test_lag_seconds_from_head_timestamp(self) -> None:
        report = LagTracker().observe(cluster(100.0, group("g", partition(5, 9, head=60.0))))
        assert 40.0 == report.group("g").partitions[0].lag_seconds

    def test_lag_seconds_zero_without_lag(self) -> None:
        report = LagTracker().observe(cluster(100.0, group("g", partition(9, 9, head=1.0))))
        assert 0.0 == report.group("g").lag_seconds

    def test_lag_seconds_interpolated_when_head_unreadable(self) -> None:
        tracker = LagTracker()
        tracker.observe(cluster(0.0, group("g", partition(10, 10))))
        tracker.observe(cluster(10.0, group("g", partition(10, 20))))
        report = tracker.observe(cluster(20.0, group("g", partition(10, 20))))
        # offset 10 was the first of 10 records appended between t=0 and t=10
        assert 19.5 == report.group("g").lag_seconds

    def test_group_lag_seconds_is_oldest_partition(self) -> None:
        report = LagTracker().observe(
            cluster(
                100.0,
                group(
                    "g", partition(1, 2, number=0, head=90.0), partition(1, 2, number=1, head=70.0)
                ),
            )
        )
        assert 30.0 == report.group("g").lag_seconds

    def test_rewind_reported(self) -> None:
        tracker = LagTracker(window_size=3)
        tracker.observe(cluster(0.0, group("g", partition(10, 12))))
        report = tracker.observe(cluster(1.0, group("g", partition(2, 12))))
        assert Status.REWIND == report.status

    def test_vanished_group_forgets_its_window(self) -> None:
        tracker = LagTracker(window_size=3)
        tracker.observe(cluster(0.0, group("g", partition(10, 12))))
        tracker.observe(cluster(1.0))
        report = tracker.observe(cluster(2.0, group("g", partition(2, 12))))
        assert Status.UNKNOWN == report.status  # a fresh window: no REWIND, no judgement

    def test_samples_counts_window_fill(self) -> None:
        tracker = LagTracker(window_size=2)
        counts = [
            tracker.observe(cluster(float(i), group("g", partition(1, 1)))).samples
            for i in range(3)
        ]
        assert [1, 2, 2] == counts

    def test_window_size_must_be_positive(self) -> None:
        with pytest.raises(ValueError):
            LagTracker(window_size=0)

    def test_json_shape(self) -> None:
        report = LagTracker().observe(cluster(5.0, group("g", partition(1, 3, head=4.0))))
        expected = {
            "taken_at": 5.0,
            "samples": 1,
            "status": "UNKNOWN",
            "groups": [
                {
                    "group": "g",
                    "state": "STABLE",
                    "members": 1,
                    "status": "UNKNOWN",
                    "lag": 2,
                    "lag_seconds": 1.0,
                    "time_to_drain": None,
                    "partitions": [
                        {
                            "topic": "events.nla",
                            "partition": 0,
                            "committed": 1,
                            "end": 3,
                            "lag": 2,
                            "lag_seconds": 1.0,
                            "status": "UNKNOWN",
                            "time_to_drain": None,
                        }
                    ],
                }
            ],
        }
        assert expected == report.to_dict()

    def test_json_round_trip(self) -> None:
        report = LagTracker().observe(cluster(5.0, group("g", partition(1, 3, head=4.0))))
        assert report.to_dict() == LagReport.from_dict(report.to_dict()).to_dict()
