"""`ketenbus topics render`: Strimzi KafkaTopic/KafkaUser resources carry exactly the topics
and ACLs of topics.yaml, and the committed deploy/k8s file is what the command renders."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from ketenbus.settings import PROJECT_ROOT, get_settings
from ketenbus.topics.acl import Acl, generate_acls
from ketenbus.topics.render import RenderFailed, k8s_name, render_strimzi, user_name
from ketenbus.topics.spec import TopicsFile, load_topics

RENDERED = PROJECT_ROOT / "deploy" / "k8s" / "strimzi" / "topics-users.yaml"
_OPERATION = {"Read": "READ", "Write": "WRITE", "Describe": "DESCRIBE", "Create": "CREATE"}
_OPERATION["All"] = "ALL"


@pytest.fixture(scope="module")
def spec() -> TopicsFile:
    return load_topics(get_settings().topics_file)


def of_kind(resources: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["kind"] == kind]


def acls_of(users: list[dict[str, Any]]) -> set[Acl]:
    """The ACLs the KafkaUser resources grant, one Acl per operation."""
    return {
        Acl(
            principal=f"User:{user['metadata']['name']}",
            resource_type=rule["resource"]["type"].upper(),
            pattern_type=rule["resource"]["patternType"].upper(),
            resource_name=rule["resource"]["name"],
            operation=_OPERATION[operation],  # type: ignore[arg-type]
            host=rule["host"],
        )
        for user in users
        for rule in user["spec"]["authorization"]["acls"]
        for operation in rule["operations"]
    }


class TestTopics:
    """Every topic of topics.yaml (patterns for the listed municipalities) is one
    KafkaTopic with its partitions, replicas and configs; nothing else is."""

    def test_exactly_the_concrete_topics(self, spec: TopicsFile) -> None:
        expected = {
            t.name: (t.partitions, t.replication_factor, t.kafka_configs())
            for t in spec.concrete_topics()
        }
        rendered = {
            r["spec"]["topicName"]: (
                r["spec"]["partitions"],
                r["spec"]["replicas"],
                r["spec"]["config"],
            )
            for r in of_kind(render_strimzi(spec), "KafkaTopic")
        }
        assert expected == rendered

    def test_every_resource_names_the_cluster(self, spec: TopicsFile) -> None:
        clusters = {r["metadata"]["labels"]["strimzi.io/cluster"] for r in render_strimzi(spec)}
        assert {"ketenbus"} == clusters


class TestUsers:
    """Every principal is a SCRAM KafkaUser whose ACLs are exactly the generated ones."""

    def test_exactly_the_generated_acls(self, spec: TopicsFile) -> None:
        users = of_kind(render_strimzi(spec), "KafkaUser")
        assert set(generate_acls(spec)) == acls_of(users)

    def test_every_declared_principal_has_a_user(self, spec: TopicsFile) -> None:
        principals = {a.principal for a in spec.agencies if not a.is_pattern}
        principals |= {s.principal for s in spec.services}
        users = {
            f"User:{u['metadata']['name']}" for u in of_kind(render_strimzi(spec), "KafkaUser")
        }
        assert principals == users

    def test_scram_sha_512(self, spec: TopicsFile) -> None:
        kinds = {
            u["spec"]["authentication"]["type"] for u in of_kind(render_strimzi(spec), "KafkaUser")
        }
        assert {"scram-sha-512"} == kinds


class TestNames:
    """Kubernetes names are derived, or refused with a reason."""

    def test_topic_name_made_dns_safe(self) -> None:
        assert "ketenbus-cases-dwelling-inbox" == k8s_name("ketenbus_cases-dwelling-inbox")

    def test_principal_without_user_prefix_refused(self) -> None:
        with pytest.raises(RenderFailed):
            user_name("Group:ops")


class TestCommittedManifest:
    """deploy/k8s/strimzi/topics-users.yaml is the current render of topics.yaml
    (regenerate: `ketenbus topics render -o deploy/k8s/strimzi/topics-users.yaml`)."""

    def test_up_to_date(self, spec: TopicsFile) -> None:
        committed = [doc for doc in yaml.safe_load_all(RENDERED.read_text()) if doc]
        assert render_strimzi(spec) == committed
