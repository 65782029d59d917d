"""deploy/'s compose file and Kubernetes manifests, validated without Docker or a cluster:
the compose file against the Compose Specification schema (check-jsonschema's vendored
copy) plus its cross-references, built-in Kubernetes kinds against the Kubernetes 1.37
OpenAPI schemas (kubernetes-validate, strict), Strimzi resources structurally."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from ketenbus.settings import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
K8S = DEPLOY / "k8s"
BUILTIN_KINDS = {"ConfigMap", "Deployment", "StatefulSet", "Service"}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def k8s_documents() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(K8S.rglob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def kafka_properties(node: int) -> dict[str, str]:
    text = (DEPLOY / "compose" / "kafka" / f"node-{node}.properties").read_text()
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key: value for key, value in pairs}


class TestComposeSchema:
    """compose.yaml is valid under the Compose Specification JSON schema."""

    def test_valid(self) -> None:
        tool = Path(sys.executable).parent / "check-jsonschema"
        done = subprocess.run(
            [str(tool), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert 0 == done.returncode, done.stdout + done.stderr


class TestComposeReferences:
    """Everything a service names exists: secrets, volumes, dependencies, files."""

    def test_secrets_declared(self) -> None:
        document = compose()
        used = {
            entry if isinstance(entry, str) else entry["source"]
            for service in document["services"].values()
            for entry in service.get("secrets", [])
        }
        assert set() == used - set(document["secrets"])

    def test_named_volumes_declared(self) -> None:
        document = compose()
        named = {
            volume.split(":", 1)[0]
            for service in document["services"].values()
            for volume in service.get("volumes", [])
            if not volume.startswith(("./", "../", "/"))
        }
        assert set() == named - set(document["volumes"])

    def test_bind_mounts_exist(self) -> None:
        sources = {
            volume.split(":", 1)[0]
            for service in compose()["services"].values()
            for volume in service.get("volumes", [])
            if volume.startswith(("./", "../"))
        }
        assert [] == [s for s in sorted(sources) if not (COMPOSE.parent / s).exists()]

    def test_dependencies_exist(self) -> None:
        services = compose()["services"]
        wanted = {dep for service in services.values() for dep in service.get("depends_on", {})}
        assert set() == wanted - set(services)

    def test_three_kraft_nodes_of_the_official_image(self) -> None:
        services = compose()["services"]
        images = {name: services[name]["image"] for name in ("kafka-1", "kafka-2", "kafka-3")}
        assert {"apache/kafka:4.0.1"} == set(images.values())

    def test_services_prometheus_grafana_present(self) -> None:
        expected = {"gemeente", "nla", "politie", "nau", "correlator", "lagmonitor", "webhook"}
        expected |= {"prometheus", "grafana"}
        assert set() == expected - set(compose()["services"])


class TestKafkaSecurity:
    """Every node: SASL_SSL + SCRAM-SHA-512 for clients, StandardAuthorizer, deny by default,
    3 voters, replication 3 with 2 in sync."""

    @pytest.mark.parametrize("node", [1, 2, 3])
    def test_node(self, node: int) -> None:
        props = kafka_properties(node)
        expected = {
            "node.id": str(node),
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "inter.broker.listener.name": "SASL_SSL",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "default.replication.factor": "3",
            "min.insync.replicas": "2",
            "unclean.leader.election.enable": "false",
        }
        assert expected == {key: props.get(key) for key in expected}
        assert "PLAINTEXT" not in props["listener.security.protocol.map"]
        assert 3 == len(props["controller.quorum.voters"].split(","))


class TestKubernetes:
    """Built-in kinds pass strict schema validation; services are ready on /healthz; the
    correlator runs several replicas; the Strimzi cluster is 3 nodes with SCRAM and ACLs."""

    @pytest.mark.parametrize(
        "document",
        [d for d in k8s_documents() if d["kind"] in BUILTIN_KINDS],
        ids=lambda d: f"{d['kind']}/{d['metadata']['name']}",
    )
    def test_schema(self, document: dict[str, Any]) -> None:
        kubernetes_validate.validate(document, "1.37.0", strict=True)

    def test_every_workload_ready_on_healthz(self) -> None:
        probes = {
            d["metadata"]["name"]: {
                c["readinessProbe"]["httpGet"]["path"]
                for c in d["spec"]["template"]["spec"]["containers"]
            }
            for d in k8s_documents()
            if d["kind"] in ("Deployment", "StatefulSet")
        }
        assert {name: {"/healthz"} for name in probes} == probes

    def test_correlator_has_several_replicas(self) -> None:
        correlator = next(
            d
            for d in k8s_documents()
            if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "correlator"
        )
        assert correlator["spec"]["replicas"] >= 2

    def test_strimzi_cluster(self) -> None:
        documents = k8s_documents()
        pool = next(d for d in documents if d["kind"] == "KafkaNodePool")
        kafka = next(d for d in documents if d["kind"] == "Kafka")
        listeners = kafka["spec"]["kafka"]["listeners"]
        assert (3, {"controller", "broker"}, "simple", {"scram-sha-512"}, {True}) == (
            pool["spec"]["replicas"],
            set(pool["spec"]["roles"]),
            kafka["spec"]["kafka"]["authorization"]["type"],
            {listener["authentication"]["type"] for listener in listeners},
            {listener["tls"] for listener in listeners},
        )

    def test_workloads_use_rendered_users(self) -> None:
        documents = k8s_documents()
        users = {d["metadata"]["name"] for d in documents if d["kind"] == "KafkaUser"}
        referenced = {
            env["valueFrom"]["secretKeyRef"]["name"]
            for d in documents
            if d["kind"] in ("Deployment", "StatefulSet")
            for c in d["spec"]["template"]["spec"]["containers"]
            for env in c.get("env", [])
            if "valueFrom" in env
        }
        assert set() == referenced - users
