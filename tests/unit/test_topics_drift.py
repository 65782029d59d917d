"""Drift between topics.yaml and a cluster, computed as a pure function."""

from __future__ import annotations

from topics_builders import spec

from ketenbus.topics.admin import ActualTopic, Drift, diff_topics, replication_warning
from ketenbus.topics.spec import ResolvedTopic


def _as_cluster(topics: list[ResolvedTopic], brokers: int) -> dict[str, ActualTopic]:
    """What a cluster would hold after a perfect apply."""
    return {
        t.name: ActualTopic(
            name=t.name,
            partitions=t.partitions,
            replication_factor=t.effective_replication_factor(brokers),
            configs={**t.kafka_configs(brokers), "segment.bytes": "1073741824"},
            overrides=frozenset(t.kafka_configs(brokers)),
        )
        for t in topics
    }


class TestDiff:
    """diff_topics reports each kind of difference, and nothing when file and cluster agree."""

    def test_in_sync(self) -> None:
        desired = spec().concrete_topics()
        assert [] == diff_topics(desired, _as_cluster(desired, 1), broker_count=1)

    def test_missing(self) -> None:
        desired = spec().concrete_topics()
        cluster = _as_cluster(desired, 1)
        del cluster["cases.events"]
        assert [Drift("cases.events", "missing")] == diff_topics(desired, cluster, 1)

    def test_partitions_and_config(self) -> None:
        desired = spec().concrete_topics()
        cluster = _as_cluster(desired, 1)
        have = cluster["events.nla"]
        cluster["events.nla"] = ActualTopic(
            name=have.name,
            partitions=2,
            replication_factor=1,
            configs={**have.configs, "retention.ms": "1000"},
            overrides=have.overrides,
        )
        drifts = diff_topics(desired, cluster, 1)
        assert [
            Drift("events.nla", "partitions", 6, 2),
            Drift("events.nla", "config", "-1", "1000", config="retention.ms"),
        ] == drifts
        assert [True, True] == [d.fixable for d in drifts]

    def test_partition_decrease_is_not_fixable(self) -> None:
        desired = spec().concrete_topics()
        cluster = _as_cluster(desired, 1)
        have = cluster["events.nla"]
        cluster["events.nla"] = ActualTopic(have.name, 9, 1, have.configs, have.overrides)
        (drift,) = diff_topics(desired, cluster, 1)
        assert (False, True) == (drift.fixable, "cannot be decreased" in drift.describe())

    def test_unmanaged_override(self) -> None:
        desired = spec().concrete_topics()
        cluster = _as_cluster(desired, 1)
        have = cluster["cases.events"]
        cluster["cases.events"] = ActualTopic(
            have.name,
            have.partitions,
            1,
            {**have.configs, "segment.ms": "60000"},
            have.overrides | {"segment.ms"},
        )
        expected = [Drift("cases.events", "unmanaged_config", None, "60000", config="segment.ms")]
        assert expected == diff_topics(desired, cluster, 1)

    def test_cleanup_policy_order_does_not_matter(self) -> None:
        desired = spec().concrete_topics()
        cluster = _as_cluster(desired, 1)
        have = cluster["cases.events"]
        desired_cases = next(t for t in desired if t.name == "cases.events")
        desired_cases.configs["cleanup.policy"] = "compact,delete"
        cluster["cases.events"] = ActualTopic(
            have.name,
            have.partitions,
            1,
            {**have.configs, "cleanup.policy": "delete,compact"},
            have.overrides,
        )
        assert [] == diff_topics(desired, cluster, 1)

    def test_replication_judged_after_capping(self) -> None:
        desired = spec().concrete_topics()
        one_broker = _as_cluster(desired, 1)
        drifts = diff_topics(desired, one_broker, broker_count=3)
        kinds = {(d.kind, d.config) for d in drifts}
        assert {("replication_factor", None), ("config", "min.insync.replicas")} == kinds
        assert not next(d for d in drifts if d.kind == "replication_factor").fixable


class TestReplicationWarning:
    """A warning is given only when the file asks for more replicas than there are brokers."""

    def test_one_broker(self) -> None:
        warning = replication_warning(spec().concrete_topics(), 1)
        assert warning is not None and "replication factor 3 capped to 1" in warning

    def test_enough_brokers(self) -> None:
        assert replication_warning(spec().concrete_topics(), 3) is None
