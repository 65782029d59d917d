"""Kafka ACLs generated from topics.yaml (pure), and applying them to a cluster.

Rules (least privilege, all ALLOW, any host; nothing is allowed that no rule allows):
- a producer gets WRITE and DESCRIBE on the topic;
- a consumer gets READ and DESCRIBE on the topic, and READ on its consumer groups
  (GROUP, PREFIXED by each of its `group_prefixes`; an agency's default: its principal);
- a pattern entry (`events.gemeente.{cbs}`): the municipality itself gets LITERAL ACLs on
  its own topic, for every municipality the ACLs are generated for; a service gets one
  PREFIXED ACL on the fixed part (`events.gemeente.`) so it also covers municipalities
  that join later, plus CREATE there, since the service that first uses a municipality's
  topics creates them (`ensure_agency_topics`); a municipality creates nothing;
- `gemeente:{cbs}` in a named entry means every municipality;
- a service that `publishes_for` agencies (their agency service) gets WRITE on their
  source topics and DESCRIBE + CREATE on every topic they own (PREFIXED for the pattern);
- a service that `monitors` gets DESCRIBE on every topic and group (`*`), nothing else;
- `internal` prefixes: the managing service gets ALL on the PREFIXED topic name (faust
  creates, writes, reads and reconfigures its changelog/repartition topics).

Applying needs a broker with an authorizer (KRaft: `authorizer.class.name=
org.apache.kafka.metadata.authorizer.StandardAuthorizer`, the admin in `super.users`) and
SASL listeners so principals mean something; the embedded broker has both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # no __all__ there
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from ketenbus.agencies import gemeente_of
from ketenbus.topics.spec import (
    CBS,
    GEMEENTE_PATTERN,
    Service,
    TopicEntry,
    TopicsError,
    TopicsFile,
    expand,
)

Operation = Literal["READ", "WRITE", "DESCRIBE", "CREATE", "ALL"]
Resource = Literal["TOPIC", "GROUP"]
WILDCARD = "*"
PatternType = Literal["LITERAL", "PREFIXED"]

ADMIN_TIMEOUT_S = 30.0


class AclsNotSupported(TopicsError):
    """The cluster has no authorizer, so ACLs cannot be created."""


class AclApplyFailed(TopicsError):
    """The cluster refused one or more ACLs."""


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW rule, in the field order `kafka-acls --list` shows."""

    principal: str
    resource_type: Resource
    pattern_type: PatternType
    resource_name: str
    operation: Operation
    host: str = "*"
    permission: Literal["ALLOW"] = "ALLOW"

    def describe(self) -> str:
        return (
            f"{self.principal} {self.permission} {self.operation} on {self.resource_type}"
            f" {self.pattern_type} {self.resource_name}"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def binding(self) -> AclBinding:
        return AclBinding(
            ResourceType[self.resource_type],
            self.resource_name,
            ResourcePatternType[self.pattern_type],
            self.principal,
            self.host,
            AclOperation[self.operation],
            AclPermissionType[self.permission],
        )


@dataclass(frozen=True)
class _Party:
    principal: str
    group_prefixes: tuple[str, ...]


def _party(spec: TopicsFile, ref: str) -> _Party:
    if ref in spec.service_names:
        service = spec.service(ref)
        return _Party(service.principal, tuple(service.group_prefixes))
    agency = spec.agency(ref)
    return _Party(agency.principal, tuple(agency.consumer_group_prefixes))


def _grants(
    party: _Party, role: str, topic: str, pattern_type: PatternType, *, may_create: bool = False
) -> Iterable[Acl]:
    op: Operation = "WRITE" if role == "producer" else "READ"
    yield Acl(party.principal, "TOPIC", pattern_type, topic, op)
    yield Acl(party.principal, "TOPIC", pattern_type, topic, "DESCRIBE")
    if may_create:
        yield Acl(party.principal, "TOPIC", pattern_type, topic, "CREATE")
    if role == "consumer":
        for prefix in party.group_prefixes:
            yield Acl(party.principal, "GROUP", "PREFIXED", prefix, "READ")


def _entry_acls(spec: TopicsFile, entry: TopicEntry, municipalities: list[str]) -> Iterable[Acl]:
    for role, refs in (("producer", entry.producers), ("consumer", entry.consumers)):
        for ref in refs:
            per_municipality = CBS in ref
            if entry.is_pattern and not per_municipality:
                # a service reading/writing every municipality's topic, now and later
                prefix = entry.pattern_prefix()
                yield from _grants(_party(spec, ref), role, prefix, "PREFIXED", may_create=True)
            elif entry.is_pattern:
                for cbs in municipalities:
                    topic = expand(str(entry.pattern), cbs)
                    party = _party(spec, expand(ref, cbs))
                    yield from _grants(party, role, topic, "LITERAL")
            elif per_municipality:
                if ref != GEMEENTE_PATTERN:
                    continue  # validated away by TopicsFile; keep the generator total
                for cbs in municipalities:
                    party = _party(spec, gemeente_of(cbs))
                    yield from _grants(party, role, str(entry.name), "LITERAL")
            else:
                yield from _grants(_party(spec, ref), role, str(entry.name), "LITERAL")


def _owned(entry: TopicEntry, agency: str) -> bool:
    if entry.is_pattern:
        return agency == GEMEENTE_PATTERN and entry.owner == GEMEENTE_PATTERN
    return entry.owner == agency


def _agency_service_acls(spec: TopicsFile, service: Service) -> Iterable[Acl]:
    """An agency service: write its agencies' source topics, see and create their topics."""
    for agency in service.publishes_for:
        for entry in spec.topics:
            if not _owned(entry, agency):
                continue
            pattern_type: PatternType = "PREFIXED" if entry.is_pattern else "LITERAL"
            topic = entry.pattern_prefix() if entry.is_pattern else str(entry.name)
            yield Acl(service.principal, "TOPIC", pattern_type, topic, "DESCRIBE")
            yield Acl(service.principal, "TOPIC", pattern_type, topic, "CREATE")
            if agency in entry.producers:
                yield Acl(service.principal, "TOPIC", pattern_type, topic, "WRITE")


def _monitor_acls(service: Service) -> Iterable[Acl]:
    yield Acl(service.principal, "TOPIC", "LITERAL", WILDCARD, "DESCRIBE")
    yield Acl(service.principal, "GROUP", "LITERAL", WILDCARD, "DESCRIBE")


def generate_acls(spec: TopicsFile, municipalities: Iterable[str] = ()) -> list[Acl]:
    """The sorted, de-duplicated ACLs for the listed municipalities plus the given CBS codes."""
    codes = sorted(set(spec.listed_municipalities) | set(municipalities))
    acls: set[Acl] = set()
    for entry in spec.topics:
        acls.update(_entry_acls(spec, entry, codes))
    for service in spec.services:
        acls.update(_agency_service_acls(spec, service))
        if service.monitors:
            acls.update(_monitor_acls(service))
    for internal in spec.internal:
        service = spec.service(internal.managed_by)
        acls.add(Acl(service.principal, "TOPIC", "PREFIXED", internal.prefix, "ALL"))
    return sorted(acls)


def apply_acls(admin: AdminClient, acls: Iterable[Acl]) -> int:
    """Create the ACLs (creating an existing ACL is a no-op in Kafka); returns how many."""
    bindings = [acl.binding() for acl in acls]
    if not bindings:
        return 0
    errors: list[str] = []
    for binding, future in admin.create_acls(bindings, request_timeout=ADMIN_TIMEOUT_S).items():
        try:
            future.result(timeout=ADMIN_TIMEOUT_S)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.code() == KafkaError.SECURITY_DISABLED:
                raise AclsNotSupported(
                    "the cluster has no authorizer: set authorizer.class.name="
                    "org.apache.kafka.metadata.authorizer.StandardAuthorizer (and SASL"
                    " listeners, super.users) on the brokers first"
                ) from exc
            errors.append(f"{binding}: {error.str()}")
    if errors:
        raise AclApplyFailed("; ".join(errors))
    return len(bindings)
