"""topics.yaml validation and pattern expansion (no broker)."""

from __future__ import annotations

from pathlib import Path

import pytest
from topics_builders import raw_spec, spec

from ketenbus.agencies import notification_topic, source_topic
from ketenbus.settings import PROJECT_ROOT, Settings
from ketenbus.topics.admin import expected_topics
from ketenbus.topics.spec import (
    TopicsFileInvalid,
    UnknownAgencyTopics,
    load_topics,
    parse_retention,
)

REAL_FILE = PROJECT_ROOT / "topics.yaml"
SCHEMAS = PROJECT_ROOT / "schemas"


class TestRetention:
    """Retention accepts milliseconds, human durations and 'infinite'."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (1000, 1000),
            ("1000", 1000),
            ("30d", 30 * 86_400_000),
            ("12h", 12 * 3_600_000),
            ("2w", 14 * 86_400_000),
            ("90s", 90_000),
            ("infinite", -1),
            (-1, -1),
        ],
    )
    def test_parses(self, value: int | str, expected: int) -> None:
        assert expected == parse_retention(value)

    @pytest.mark.parametrize("value", ["soon", "3 years", -5, "7x"])
    def test_rejects(self, value: int | str) -> None:
        with pytest.raises(ValueError):
            parse_retention(value)


class TestValidation:
    """An invalid file is refused with a message naming the entry."""

    def test_minimal_file_is_valid(self) -> None:
        assert 4 == len(spec().topics)

    def test_bad_field_names_the_topic(self) -> None:
        raw = raw_spec()
        raw["topics"][0]["partitions"] = 0
        with pytest.raises(TopicsFileInvalid) as info:
            spec(raw)
        assert "topics[0] (events.nla).partitions" in str(info.value)

    def test_unknown_field_is_rejected(self) -> None:
        raw = raw_spec()
        raw["topics"][3]["retention_ms"] = 5
        with pytest.raises(TopicsFileInvalid) as info:
            spec(raw)
        assert "topics[3] (cases.events).retention_ms" in str(info.value)

    def test_unknown_producer_names_the_topic(self) -> None:
        raw = raw_spec()
        raw["topics"][0]["producers"] = ["nlaa"]
        with pytest.raises(TopicsFileInvalid) as info:
            spec(raw)
        assert "topics[0] (events.nla): producer 'nlaa' is neither an agency nor a service" in str(
            info.value
        )

    def test_min_isr_above_replication_factor(self) -> None:
        raw = raw_spec()
        raw["topics"][0]["replication_factor"] = 1
        with pytest.raises(TopicsFileInvalid) as info:
            spec(raw)
        assert "min_insync_replicas 2 > replication_factor 1" in str(info.value)

    def test_compacted_topic_needs_a_key(self) -> None:
        raw = raw_spec()
        del raw["topics"][3]["key"]
        with pytest.raises(TopicsFileInvalid) as info:
            spec(raw)
        assert "compacted topic must say what its `key` is" in str(info.value)

    def test_pattern_needs_the_placeholder(self) -> None:
        raw = raw_spec()
        raw["topics"][1]["pattern"] = "events.gemeente"
        with pytest.raises(TopicsFileInvalid) as info:
            spec(raw)
        assert "must contain {cbs} exactly once" in str(info.value)

    def test_name_and_pattern_are_exclusive(self) -> None:
        raw = raw_spec()
        raw["topics"][1]["name"] = "events.x"
        with pytest.raises(TopicsFileInvalid) as info:
            spec(raw)
        assert "exactly one of `name` or `pattern`" in str(info.value)

    def test_duplicate_topic(self) -> None:
        raw = raw_spec()
        raw["topics"].append(dict(raw["topics"][0]))
        with pytest.raises(TopicsFileInvalid) as info:
            spec(raw)
        assert "'events.nla' listed twice" in str(info.value)

    def test_invalid_topic_name(self) -> None:
        raw = raw_spec()
        raw["topics"][0]["name"] = "events/nla"
        with pytest.raises(TopicsFileInvalid) as info:
            spec(raw)
        assert "not a valid Kafka topic name" in str(info.value)

    def test_bad_oin_names_the_agency(self) -> None:
        raw = raw_spec()
        raw["agencies"][0]["oin"] = "123"
        with pytest.raises(TopicsFileInvalid) as info:
            spec(raw)
        assert "agencies[0] (nla)" in str(info.value)

    def test_managed_by_must_be_a_service(self) -> None:
        raw = raw_spec()
        raw["internal"][0]["managed_by"] = "nobody"
        with pytest.raises(TopicsFileInvalid) as info:
            spec(raw)
        assert "internal[0] (corr-): managed_by 'nobody' is not a service" in str(info.value)

    def test_configs_cannot_shadow_fields(self) -> None:
        raw = raw_spec()
        raw["topics"][0]["configs"] = {"retention.ms": 5}
        with pytest.raises(TopicsFileInvalid) as info:
            spec(raw)
        assert "through their own fields" in str(info.value)

    def test_unknown_schema(self, tmp_path: Path) -> None:
        raw = raw_spec()
        raw["topics"][0]["schemas"] = ["nl.ketenbus.events.Nope"]
        path = tmp_path / "topics.yaml"
        import yaml

        path.write_text(yaml.safe_dump(raw))
        with pytest.raises(TopicsFileInvalid) as info:
            load_topics(path, schemas_dir=SCHEMAS)
        assert "topics[0] (events.nla): schema 'nl.ketenbus.events.Nope' not found" in str(
            info.value
        )

    def test_not_yaml(self, tmp_path: Path) -> None:
        path = tmp_path / "topics.yaml"
        path.write_text("topics: [unclosed\n")
        with pytest.raises(TopicsFileInvalid):
            load_topics(path)


class TestExpansion:
    """Pattern entries expand per municipality; defaults fill what an entry leaves out."""

    def test_concrete_topics_include_listed_municipalities(self) -> None:
        names = [t.name for t in spec().concrete_topics()]
        assert [
            "events.nla",
            "events.gemeente.0599",
            "notifications.gemeente.0599",
            "cases.events",
        ] == names

    def test_extra_municipalities(self) -> None:
        names = [t.name for t in spec().concrete_topics(["0344"])]
        assert ["events.gemeente.0344", "events.gemeente.0599"] == names[1:3]

    def test_defaults_and_overrides(self) -> None:
        topics = {t.name: t for t in spec().concrete_topics()}
        assert 6 == topics["events.nla"].partitions
        assert 3 == topics["events.gemeente.0599"].partitions
        assert {
            "cleanup.policy": "delete",
            "retention.ms": str(7 * 86_400_000),
            "min.insync.replicas": "2",
        } == topics["notifications.gemeente.0599"].kafka_configs()
        assert "-1" == topics["events.nla"].configs["retention.ms"]
        assert "1000" == topics["cases.events"].configs["min.compaction.lag.ms"]

    def test_capping_to_brokers(self) -> None:
        topic = spec().concrete_topics()[0]
        assert 1 == topic.effective_replication_factor(1)
        assert "1" == topic.kafka_configs(1)["min.insync.replicas"]
        assert 3 == topic.effective_replication_factor(5)

    def test_topics_of_an_unlisted_municipality(self) -> None:
        names = [t.name for t in spec().topics_for_agency("gemeente:0344")]
        assert ["events.gemeente.0344", "notifications.gemeente.0344"] == names

    def test_topics_of_a_national_agency(self) -> None:
        assert ["events.nla"] == [t.name for t in spec().topics_for_agency("nla")]

    def test_agency_without_topics(self) -> None:
        with pytest.raises(UnknownAgencyTopics):
            spec().topics_for_agency("politie")

    def test_unlisted_municipality_from_pattern(self) -> None:
        agency = spec().agency("gemeente:0344")
        assert ("User:gemeente-0344", "00000001000003440000") == (agency.principal, agency.oin)

    def test_municipalities_found_on_the_cluster(self) -> None:
        names = ["events.gemeente.0344", "notifications.gemeente.1234", "events.gemeente.x", "a"]
        assert {"0344", "1234"} == spec().municipalities_in(names)


class TestRealFile:
    """The repository's topics.yaml is valid and covers every agency's topics."""

    def test_loads_with_schemas(self) -> None:
        real = load_topics(REAL_FILE, schemas_dir=SCHEMAS)
        assert {"nla", "politie", "nau"} <= {a.code for a in real.agencies}

    def test_every_agency_has_source_and_notification_topic(self) -> None:
        real = load_topics(REAL_FILE)
        for code in ("nla", "politie", "nau", "gemeente:0599", "gemeente:0042"):
            names = {t.name for t in real.topics_for_agency(code)}
            assert {source_topic(code), notification_topic(code)} == names

    def test_cases_topic_is_compacted(self) -> None:
        real = load_topics(REAL_FILE)
        cases = next(t for t in real.concrete_topics() if t.name == "cases.events")
        assert "compact" == cases.configs["cleanup.policy"]

    def test_expected_topics(self) -> None:
        names = expected_topics(Settings(topics_file=REAL_FILE))
        assert {"events.nla", "events.gemeente.0599", "cases.events", "deadletter"} <= set(names)
