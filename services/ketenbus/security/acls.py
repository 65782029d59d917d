"""The ACLs of topics.yaml on a cluster: read back, compared (drift) and made to match.

Desired = `generate_acls` for the listed municipalities plus every municipality whose
topics exist on the cluster (created on first use or by `credentials issue`). Applying
creates the missing ACLs and deletes the ones topics.yaml does not generate: ACLs are
generated, never written by hand, so a hand-made grant is drift, not a feature.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # no __all__ there
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from ketenbus.security.errors import AclsFailed
from ketenbus.topics.acl import Acl, AclsNotSupported, apply_acls, generate_acls
from ketenbus.topics.spec import TopicsFile

TIMEOUT_S = 30.0


@dataclass
class AclDrift:
    """What the cluster lacks and what it has beyond topics.yaml."""

    missing: list[Acl] = field(default_factory=list)
    unexpected: list[Acl] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.missing and not self.unexpected

    def lines(self) -> list[str]:
        return [f"acl missing: {a.describe()}" for a in self.missing] + [
            f"acl not in topics.yaml: {a.describe()}" for a in self.unexpected
        ]


def diff_acls(desired: Iterable[Acl], actual: Iterable[Acl]) -> AclDrift:
    """The drift between generated and actual ACLs (pure)."""
    want, have = set(desired), set(actual)
    return AclDrift(missing=sorted(want - have), unexpected=sorted(have - want))


def _name(value: Any) -> Any:
    """An enum member's name (the binding's fields are enums once the broker answered)."""
    return value.name if hasattr(value, "name") else str(value)


def _acl_of(binding: AclBinding) -> Acl:
    return Acl(
        principal=binding.principal,
        resource_type=_name(binding.restype),
        pattern_type=_name(binding.resource_pattern_type),
        resource_name=binding.name,
        operation=_name(binding.operation),
        host=binding.host,
        permission=_name(binding.permission_type),
    )


def _filter_of(acl: Acl) -> AclBindingFilter:
    return AclBindingFilter(
        ResourceType[acl.resource_type],
        acl.resource_name,
        ResourcePatternType[acl.pattern_type],
        acl.principal,
        acl.host,
        AclOperation[acl.operation],
        AclPermissionType[acl.permission],
    )


def cluster_acls(admin: AdminClient) -> list[Acl]:
    """Every ACL on the cluster; AclsNotSupported when it has no authorizer."""
    anything: Any = None  # a filter's None matches every name, principal and host
    everything = AclBindingFilter(
        ResourceType.ANY,
        anything,
        ResourcePatternType.ANY,
        anything,
        anything,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    try:
        bindings = admin.describe_acls(everything, request_timeout=TIMEOUT_S).result(TIMEOUT_S)
    except KafkaException as exc:
        error: KafkaError = exc.args[0]
        if error.code() == KafkaError.SECURITY_DISABLED:
            raise AclsNotSupported("the cluster has no authorizer: no ACLs to compare") from exc
        raise AclsFailed(f"cannot describe ACLs: {error.str()}") from exc
    return sorted(_acl_of(b) for b in bindings)


def desired_acls(admin: AdminClient, spec: TopicsFile) -> list[Acl]:
    """topics.yaml's ACLs for the listed municipalities and those with topics on the cluster."""
    topics = admin.list_topics(timeout=TIMEOUT_S).topics
    return generate_acls(spec, spec.municipalities_in(topics))


def acl_drift(admin: AdminClient, spec: TopicsFile) -> AclDrift:
    return diff_acls(desired_acls(admin, spec), cluster_acls(admin))


def delete_acls(admin: AdminClient, acls: Iterable[Acl]) -> int:
    filters = [_filter_of(acl) for acl in acls]
    if not filters:
        return 0
    failed: list[str] = []
    for acl_filter, future in admin.delete_acls(filters, request_timeout=TIMEOUT_S).items():
        try:
            future.result(timeout=TIMEOUT_S)
        except KafkaException as exc:
            failed.append(f"{acl_filter}: {exc.args[0].str()}")
    if failed:
        raise AclsFailed("ACL deletion refused: " + "; ".join(failed))
    return len(filters)


def sync_acls(admin: AdminClient, spec: TopicsFile, *, dry_run: bool = False) -> AclDrift:
    """Make the cluster's ACLs those of topics.yaml; returns the drift found before."""
    drift = acl_drift(admin, spec)
    if not dry_run:
        apply_acls(admin, drift.missing)
        delete_acls(admin, drift.unexpected)
        if drift.missing:
            wait_until_in_force(admin, spec)
    return drift


def wait_until_in_force(admin: AdminClient, spec: TopicsFile, timeout: float = 30.0) -> None:
    """Return once the broker answers with every ACL of topics.yaml.

    KRaft commits new ACLs in the controller; each broker's authorizer applies them when
    it replays the metadata log, a moment later (seconds on a loaded machine). A service
    started right after `topics apply` would otherwise be refused (a correlator worker
    died on TOPIC_AUTHORIZATION_FAILED creating its inboxes).
    """
    deadline = time.monotonic() + timeout
    while True:
        missing = acl_drift(admin, spec).missing
        if not missing:
            return
        if time.monotonic() > deadline:
            raise AclsFailed(f"{len(missing)} ACLs still not in force after {timeout:g} s")
        time.sleep(0.2)


def apply_topics_and_acls(admin: AdminClient, spec: TopicsFile) -> None:
    """Prepare a cluster as `ketenbus up` does: topics.yaml's topics applied (raises
    `TopicAdminFailed` listing what failed), then the cluster's ACLs made exactly those it
    generates, so every service can run as its own principal."""
    from ketenbus.topics.admin import TopicAdminFailed, apply_topics

    report, _ = apply_topics(admin, spec)
    if report.errors:
        raise TopicAdminFailed("topics apply: " + "; ".join(report.errors))
    sync_acls(admin, spec)
