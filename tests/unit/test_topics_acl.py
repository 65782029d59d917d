"""ACLs generated from topics.yaml's producers and consumers (pure)."""

from __future__ import annotations

from topics_builders import raw_spec, spec

from ketenbus.settings import PROJECT_ROOT
from ketenbus.topics.acl import Acl, generate_acls
from ketenbus.topics.spec import load_topics


def _of(acls: list[Acl], principal: str) -> set[tuple[str, str, str, str]]:
    return {
        (a.operation, a.resource_type, a.pattern_type, a.resource_name)
        for a in acls
        if a.principal == principal
    }


class TestGenerateAcls:
    """Producers write, consumers read with their groups, patterns cover later municipalities."""

    def test_national_agency(self) -> None:
        assert {
            ("WRITE", "TOPIC", "LITERAL", "events.nla"),
            ("DESCRIBE", "TOPIC", "LITERAL", "events.nla"),
        } == _of(generate_acls(spec()), "User:nla")

    def test_municipality_gets_literal_acls_on_its_own_topics(self) -> None:
        """It writes its events, reads its notifications with groups named after its
        principal, and creates nothing (its topics are made by the services that use them)."""
        assert {
            ("WRITE", "TOPIC", "LITERAL", "events.gemeente.0599"),
            ("DESCRIBE", "TOPIC", "LITERAL", "events.gemeente.0599"),
            ("READ", "TOPIC", "LITERAL", "notifications.gemeente.0599"),
            ("DESCRIBE", "TOPIC", "LITERAL", "notifications.gemeente.0599"),
            ("READ", "GROUP", "PREFIXED", "gemeente-0599"),
        } == _of(generate_acls(spec()), "User:gemeente-0599")

    def test_extra_municipality(self) -> None:
        acls = generate_acls(spec(), ["0344"])
        assert ("WRITE", "TOPIC", "LITERAL", "events.gemeente.0344") in _of(
            acls, "User:gemeente-0344"
        )
        assert set() == _of(generate_acls(spec()), "User:gemeente-0344")

    def test_service_gets_prefixed_acls_on_patterns(self) -> None:
        correlator = _of(generate_acls(spec()), "User:corr")
        assert {
            ("READ", "TOPIC", "LITERAL", "events.nla"),
            ("DESCRIBE", "TOPIC", "LITERAL", "events.nla"),
            ("READ", "TOPIC", "PREFIXED", "events.gemeente."),
            ("DESCRIBE", "TOPIC", "PREFIXED", "events.gemeente."),
            ("CREATE", "TOPIC", "PREFIXED", "events.gemeente."),
            ("WRITE", "TOPIC", "PREFIXED", "notifications.gemeente."),
            ("DESCRIBE", "TOPIC", "PREFIXED", "notifications.gemeente."),
            ("CREATE", "TOPIC", "PREFIXED", "notifications.gemeente."),
            ("READ", "TOPIC", "LITERAL", "cases.events"),
            ("WRITE", "TOPIC", "LITERAL", "cases.events"),
            ("DESCRIBE", "TOPIC", "LITERAL", "cases.events"),
            ("READ", "GROUP", "PREFIXED", "corr"),
            ("ALL", "TOPIC", "PREFIXED", "corr-"),
        } == correlator

    def test_every_municipality_in_a_named_entry(self) -> None:
        raw = raw_spec()
        raw["topics"].append({"name": "deadletter", "producers": ["gemeente:{cbs}", "nla"]})
        acls = generate_acls(spec(raw), ["0344"])
        writers = {a.principal for a in acls if a.resource_name == "deadletter"}
        assert {"User:nla", "User:gemeente-0599", "User:gemeente-0344"} == writers

    def test_sorted_and_unique(self) -> None:
        acls = generate_acls(spec())
        assert sorted(set(acls)) == acls

    def test_all_allow_any_host(self) -> None:
        assert {("ALLOW", "*")} == {(a.permission, a.host) for a in generate_acls(spec())}

    def test_real_file_only_agencies_read_their_notifications(self) -> None:
        acls = generate_acls(load_topics(PROJECT_ROOT / "topics.yaml"))
        readers = {
            a.principal
            for a in acls
            if a.resource_name == "notifications.nla" and a.operation == "READ"
        }
        assert {"User:nla", "User:ketenbus-webhook"} == readers


class TestServiceKinds:
    """An agency service writes for its agencies only; a monitor describes and reads nothing."""

    def test_agency_service_of_the_municipalities(self) -> None:
        raw = raw_spec()
        raw["services"].append(
            {
                "name": "intake-gemeente",
                "principal": "User:in-g",
                "publishes_for": ["gemeente:{cbs}"],
            }
        )
        assert {
            ("WRITE", "TOPIC", "PREFIXED", "events.gemeente."),
            ("DESCRIBE", "TOPIC", "PREFIXED", "events.gemeente."),
            ("CREATE", "TOPIC", "PREFIXED", "events.gemeente."),
            ("DESCRIBE", "TOPIC", "PREFIXED", "notifications.gemeente."),
            ("CREATE", "TOPIC", "PREFIXED", "notifications.gemeente."),
        } == _of(generate_acls(spec(raw)), "User:in-g")

    def test_agency_service_of_a_national_agency(self) -> None:
        raw = raw_spec()
        raw["services"].append(
            {"name": "intake-nla", "principal": "User:in-n", "publishes_for": ["nla"]}
        )
        assert {
            ("WRITE", "TOPIC", "LITERAL", "events.nla"),
            ("DESCRIBE", "TOPIC", "LITERAL", "events.nla"),
            ("CREATE", "TOPIC", "LITERAL", "events.nla"),
        } == _of(generate_acls(spec(raw)), "User:in-n")

    def test_monitor(self) -> None:
        raw = raw_spec()
        raw["services"].append({"name": "lag", "principal": "User:lag", "monitors": True})
        assert {
            ("DESCRIBE", "TOPIC", "LITERAL", "*"),
            ("DESCRIBE", "GROUP", "LITERAL", "*"),
        } == _of(generate_acls(spec(raw)), "User:lag")

    def test_real_file_nobody_but_ops_and_correlator_reads_the_case_log_or_dead_letters(
        self,
    ) -> None:
        acls = generate_acls(load_topics(PROJECT_ROOT / "topics.yaml"), ["0344"])
        readers = {
            (a.resource_name, a.principal)
            for a in acls
            if a.resource_name in {"cases.events", "deadletter"} and a.operation == "READ"
        }
        assert {
            ("cases.events", "User:ketenbus-correlator"),
            ("cases.events", "User:ketenbus-ops"),
            ("deadletter", "User:ketenbus-ops"),
        } == readers

    def test_real_file_nla_may_not_touch_politie(self) -> None:
        acls = generate_acls(load_topics(PROJECT_ROOT / "topics.yaml"))
        nla = {a.resource_name for a in acls if a.principal == "User:nla"}
        assert {"events.nla", "notifications.nla", "nla"} == nla
