"""Which consumer groups keep the backbone from being idle, and the lag metrics' values."""

from __future__ import annotations

from operations.lagmonitor.idle import check_idle
from operations.lagmonitor.model import ABSENT_STATE, ClusterSample, GroupSample, PartitionSample
from operations.lagmonitor.service import exposition
from operations.lagmonitor.status import LagTracker

CORRELATOR = "ketenbus-correlator"


def group(name: str, lag: int, *, members: int = 1, state: str = "STABLE") -> GroupSample:
    return GroupSample(
        group=name,
        state=state,
        members=members,
        partitions=(
            PartitionSample(
                topic="events.nla",
                partition=0,
                committed=10,
                low=0,
                end=10 + lag,
                consumer_present=members > 0,
            ),
        ),
    )


def sample(*groups: GroupSample) -> ClusterSample:
    return ClusterSample(taken_at=50.0, groups=groups, end_offsets={("events.nla", 0): 12})


class TestCheckIdle:
    """Groups with members and the correlator count; empty groups only when named."""

    def test_all_caught_up(self) -> None:
        verdict = check_idle(sample(group("a", 0), group("b", 0)), correlator_group=CORRELATOR)
        assert (True, False) == (verdict.idle, verdict.correlator_missing)

    def test_lagging_member_group(self) -> None:
        verdict = check_idle(sample(group("a", 3), group("b", 0)), correlator_group=CORRELATOR)
        assert ["a"] == [g.group for g in verdict.lagging]

    def test_empty_group_ignored_by_default(self) -> None:
        verdict = check_idle(sample(group("old", 5, members=0)), correlator_group=CORRELATOR)
        assert verdict.idle

    def test_empty_group_counted_when_asked(self) -> None:
        idle_all = check_idle(
            sample(group("old", 5, members=0)), correlator_group=CORRELATOR, include_empty=True
        )
        idle_named = check_idle(
            sample(group("old", 5, members=0)), correlator_group=CORRELATOR, groups=["old"]
        )
        assert (False, False) == (idle_all.idle, idle_named.idle)

    def test_named_groups_only(self) -> None:
        verdict = check_idle(
            sample(group("a", 3), group("b", 0)), correlator_group=CORRELATOR, groups=["b"]
        )
        assert verdict.idle

    def test_correlator_without_members_is_missing_and_not_idle(self) -> None:
        absent = group(CORRELATOR, 4, members=0, state=ABSENT_STATE)
        verdict = check_idle(sample(absent), correlator_group=CORRELATOR)
        assert (False, True) == (verdict.idle, verdict.correlator_missing)

    def test_correlator_without_members_and_without_lag_is_idle(self) -> None:
        verdict = check_idle(sample(group(CORRELATOR, 0, members=0)), correlator_group=CORRELATOR)
        assert (True, False) == (verdict.idle, verdict.correlator_missing)

    def test_every_required_group_counts_without_members(self) -> None:
        faust_app = group("ketenbus-cases", 2, members=0, state=ABSENT_STATE)
        verdict = check_idle(
            sample(group(CORRELATOR, 0), faust_app),
            correlator_group=CORRELATOR,
            required_groups=("ketenbus-cases",),
        )
        assert (False, ("ketenbus-cases",)) == (verdict.idle, verdict.missing)

    def test_describe_lists_partitions(self) -> None:
        verdict = check_idle(sample(group("a", 3, members=0)), correlator_group="a")
        assert "a: lag 3, no members (events.nla/0: 3)" == verdict.describe()


class TestExposition:
    """A report becomes gauge series: per partition, per group, per topic partition."""

    def test_series(self) -> None:
        report = LagTracker(window_size=3).observe(sample(group("a", 2, members=0)))
        values = exposition(report)
        labels = ("a", "events.nla", "0")
        assert {
            "ketenbus_consumergroup_lag": [(labels, 2.0)],
            "ketenbus_consumergroup_lag_seconds": [(labels, 0.0)],
            "ketenbus_consumergroup_committed_offset": [(labels, 10.0)],
            "ketenbus_consumergroup_status": [(("a", "STOPPED"), 4.0)],
            "ketenbus_consumergroup_partition_status": [((*labels, "STOPPED"), 4.0)],
            "ketenbus_consumergroup_members": [(("a", "STABLE"), 0.0)],
            "ketenbus_consumergroup_time_to_drain_seconds": [],
            "ketenbus_topic_end_offset": [(("events.nla", "0"), 12.0)],
        } == values
