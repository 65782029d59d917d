"""topics.yaml as Strimzi custom resources: a `KafkaTopic` per concrete topic and a
`KafkaUser` per principal, its ACLs exactly those `ketenbus.topics.acl.generate_acls`
generates (pure, no I/O).

- Topics: every named topic, and each pattern entry expanded for the municipalities
  topics.yaml lists (others are created on first use by the services, as on any cluster).
  `metadata.name` is the topic name made a valid Kubernetes name; `spec.topicName` is the
  real one. Configs are the ones `topics apply` sets, for the full replication factor.
- Users: one `KafkaUser` (SCRAM-SHA-512) per principal that topics.yaml declares or an
  ACL names. Strimzi's principal for a KafkaUser is `User:<metadata.name>`, so a principal
  `User:gemeente.0599` becomes the KafkaUser `gemeente.0599`. ACLs on the same resource
  are merged into one rule with several `operations`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from ketenbus.topics.acl import Acl, generate_acls
from ketenbus.topics.spec import TopicsError, TopicsFile

STRIMZI_API = "kafka.strimzi.io/v1beta2"
DEFAULT_CLUSTER = "ketenbus"
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_OPERATION = {"READ": "Read", "WRITE": "Write", "DESCRIBE": "Describe", "CREATE": "Create"}
_OPERATION["ALL"] = "All"


class RenderFailed(TopicsError):
    """A topic or principal cannot be named as a Kubernetes resource."""


def k8s_name(name: str) -> str:
    """A DNS-1123 subdomain for a topic name: lower case, `_` -> `-`."""
    candidate = name.lower().replace("_", "-")
    if not _K8S_NAME.match(candidate):
        raise RenderFailed(f"{name!r} cannot be made a Kubernetes resource name")
    return candidate


def user_name(principal: str) -> str:
    """The KafkaUser name of a principal `User:<name>` (Strimzi: principal = User:<name>)."""
    kind, _, name = principal.partition(":")
    if kind != "User" or not name or not _K8S_NAME.match(name):
        raise RenderFailed(f"principal {principal!r} is not User:<kubernetes name>")
    return name


def _labels(cluster: str) -> dict[str, str]:
    return {"strimzi.io/cluster": cluster, "app.kubernetes.io/part-of": "ketenbus"}


def render_topics(spec: TopicsFile, cluster: str = DEFAULT_CLUSTER) -> list[dict[str, Any]]:
    resources = []
    for topic in spec.concrete_topics():
        resources.append(
            {
                "apiVersion": STRIMZI_API,
                "kind": "KafkaTopic",
                "metadata": {"name": k8s_name(topic.name), "labels": _labels(cluster)},
                "spec": {
                    "topicName": topic.name,
                    "partitions": topic.partitions,
                    "replicas": topic.replication_factor,
                    "config": topic.kafka_configs(),
                },
            }
        )
    return resources


def _acl_rules(acls: Iterable[Acl]) -> list[dict[str, Any]]:
    operations: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)
    for acl in acls:
        kind, pattern = acl.resource_type.lower(), acl.pattern_type.lower()
        operations[(kind, acl.resource_name, pattern, acl.host)].add(_OPERATION[acl.operation])
    return [
        {
            "resource": {"type": kind, "name": name, "patternType": pattern},
            "operations": sorted(ops),
            "host": host,
        }
        for (kind, name, pattern, host), ops in sorted(operations.items())
    ]


def declared_principals(spec: TopicsFile) -> set[str]:
    """Principals of every listed agency (not the `{cbs}` pattern) and every service."""
    principals = {a.principal for a in spec.agencies if not a.is_pattern}
    return principals | {s.principal for s in spec.services}


def render_users(spec: TopicsFile, cluster: str = DEFAULT_CLUSTER) -> list[dict[str, Any]]:
    by_principal: dict[str, list[Acl]] = defaultdict(list)
    for acl in generate_acls(spec):
        by_principal[acl.principal].append(acl)
    resources = []
    for principal in sorted(declared_principals(spec) | set(by_principal)):
        resources.append(
            {
                "apiVersion": STRIMZI_API,
                "kind": "KafkaUser",
                "metadata": {"name": user_name(principal), "labels": _labels(cluster)},
                "spec": {
                    "authentication": {"type": "scram-sha-512"},
                    "authorization": {
                        "type": "simple",
                        "acls": _acl_rules(by_principal.get(principal, [])),
                    },
                },
            }
        )
    return resources


def render_strimzi(spec: TopicsFile, cluster: str = DEFAULT_CLUSTER) -> list[dict[str, Any]]:
    """Every KafkaTopic, then every KafkaUser, in a stable order."""
    return [*render_topics(spec, cluster), *render_users(spec, cluster)]
