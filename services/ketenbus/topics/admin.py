"""Topic administration from topics.yaml: drift detection, idempotent apply, topics on first use.

- `diff_topics` (pure) compares the file's topics with what the cluster has and returns
  the drift: missing topics, partition counts, replication factors, config values, and
  config overrides the file does not know about.
- `apply_topics` creates missing topics (TOPIC_ALREADY_EXISTS counts as success), raises
  partition counts and sets/deletes configs with incremental_alter_configs. A partition
  decrease or a replication change cannot be applied and is reported as an error.
- Replication factor and min.insync.replicas are capped to the number of brokers (the
  1-node dev broker), with a warning; drift is judged against the capped values.
- `ensure_agency_topics` creates an agency's source and notification topics (a
  municipality's from the pattern entry) when first used; idempotent and cached per process.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # no __all__ there
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from ketenbus.agencies import AgencyCode
from ketenbus.kafka_clients import client_config
from ketenbus.logging import get_logger
from ketenbus.settings import Settings, get_settings
from ketenbus.topics.spec import (
    ResolvedTopic,
    TopicsError,
    TopicsFile,
    TopicsFileInvalid,
    UnknownAgencyTopics,
    load_topics,
)

__all__ = [
    "ActualTopic",
    "ApplyReport",
    "Drift",
    "TopicAdminFailed",
    "TopicsError",
    "TopicsFileInvalid",
    "UnknownAgencyTopics",
    "apply_topics",
    "cluster_state",
    "desired_topics",
    "diff_topics",
    "ensure_agency_topics",
    "expected_topics",
    "load_topics",
    "make_admin",
    "replication_warning",
]

log = get_logger("topics_admin")

ADMIN_TIMEOUT_S = 30.0
DriftKind = Literal["missing", "partitions", "replication_factor", "config", "unmanaged_config"]


class TopicAdminFailed(TopicsError):
    """The cluster refused or failed an admin request."""


@dataclass(frozen=True)
class ActualTopic:
    """What the cluster has for one topic."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)
    #: configs set on the topic itself (DYNAMIC_TOPIC_CONFIG), not inherited defaults
    overrides: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Drift:
    """One difference between topics.yaml and the cluster."""

    topic: str
    kind: DriftKind
    expected: str | int | None = None
    actual: str | int | None = None
    config: str | None = None

    @property
    def fixable(self) -> bool:
        """Whether `topics apply` can remove it (Kafka cannot shrink partitions or re-replicate
        through these admin calls)."""
        if self.kind == "partitions":
            return int(self.actual or 0) < int(self.expected or 0)
        return self.kind != "replication_factor"

    def describe(self) -> str:
        if self.kind == "missing":
            return f"{self.topic}: missing on the cluster"
        if self.kind == "partitions":
            hint = "" if self.fixable else " (partitions cannot be decreased: recreate the topic)"
            return f"{self.topic}: partitions file {self.expected}, cluster {self.actual}{hint}"
        if self.kind == "replication_factor":
            return (
                f"{self.topic}: replication factor file {self.expected}, cluster {self.actual}"
                " (needs a partition reassignment)"
            )
        if self.kind == "unmanaged_config":
            return f"{self.topic}: config {self.config}={self.actual} is not in the file"
        return f"{self.topic}: config {self.config} file {self.expected}, cluster {self.actual}"


@dataclass
class ApplyReport:
    """What `apply_topics` did, and what it could not do."""

    created: list[str] = field(default_factory=list)
    partitions_raised: list[str] = field(default_factory=list)
    configs_changed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.partitions_raised or self.configs_changed)

    @property
    def ok(self) -> bool:
        return not self.errors


def _normalise(key: str, value: str | None) -> str | None:
    if value is not None and key == "cleanup.policy":
        return ",".join(sorted(p.strip() for p in value.split(",")))
    return value


def diff_topics(
    desired: Sequence[ResolvedTopic],
    actual: Mapping[str, ActualTopic],
    broker_count: int,
) -> list[Drift]:
    """Every difference between the file's topics and the cluster's (pure)."""
    drifts: list[Drift] = []
    for topic in desired:
        have = actual.get(topic.name)
        if have is None:
            drifts.append(Drift(topic.name, "missing"))
            continue
        if have.partitions != topic.partitions:
            drifts.append(Drift(topic.name, "partitions", topic.partitions, have.partitions))
        rf = topic.effective_replication_factor(broker_count)
        if have.replication_factor != rf:
            drifts.append(Drift(topic.name, "replication_factor", rf, have.replication_factor))
        want = topic.kafka_configs(broker_count)
        for key, value in sorted(want.items()):
            current = have.configs.get(key)
            if _normalise(key, current) != _normalise(key, value):
                drifts.append(Drift(topic.name, "config", value, current, config=key))
        for key in sorted(have.overrides - set(want)):
            drifts.append(
                Drift(topic.name, "unmanaged_config", None, have.configs.get(key), config=key)
            )
    return drifts


def replication_warning(desired: Iterable[ResolvedTopic], broker_count: int) -> str | None:
    """The warning to show when the file asks for more replicas than there are brokers."""
    wanted = sorted({t.replication_factor for t in desired if t.replication_factor > broker_count})
    if not wanted:
        return None
    return (
        f"replication factor {'/'.join(map(str, wanted))} capped to {broker_count} and"
        f" min.insync.replicas to at most {broker_count}: the cluster has {broker_count}"
        f" broker{'s' if broker_count != 1 else ''}"
    )


# --- the cluster -------------------------------------------------------------------------


def make_admin(
    bootstrap_servers: str | None = None,
    *,
    settings: Settings | None = None,
    principal: str | None = None,
) -> AdminClient:
    """An AdminClient acting as `principal` (None: the process's own), see client_config."""
    extra = {"bootstrap.servers": bootstrap_servers} if bootstrap_servers else {}
    return AdminClient(client_config(settings, principal=principal, extra=extra))


def _result(future: object, what: str) -> object:
    try:
        return future.result(timeout=ADMIN_TIMEOUT_S)  # type: ignore[attr-defined]
    except KafkaException as exc:
        raise TopicAdminFailed(f"{what}: {exc.args[0]}") from exc


def _is_topic_override(entry: ConfigEntry) -> bool:
    # describe_configs hands the source back as a plain int, not a ConfigSource
    source = getattr(entry.source, "value", entry.source)
    return bool(source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value)


def cluster_state(
    admin: AdminClient, names: Iterable[str] | None = None
) -> tuple[int, dict[str, ActualTopic]]:
    """Broker count and the named topics (all topics if None) as the cluster has them."""
    try:
        metadata = admin.list_topics(timeout=ADMIN_TIMEOUT_S)
    except KafkaException as exc:
        raise TopicAdminFailed(f"cannot reach the cluster: {exc.args[0]}") from exc
    wanted = set(metadata.topics) if names is None else set(names) & set(metadata.topics)
    wanted = {n for n in wanted if not n.startswith("__")}
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in sorted(wanted)]
    described = admin.describe_configs(resources) if resources else {}
    topics: dict[str, ActualTopic] = {}
    for resource, future in described.items():
        entries = _result(future, f"describe configs of {resource.name}")
        assert isinstance(entries, dict)
        meta = metadata.topics[resource.name]
        replicas = [len(p.replicas) for p in meta.partitions.values()]
        topics[resource.name] = ActualTopic(
            name=resource.name,
            partitions=len(meta.partitions),
            replication_factor=min(replicas) if replicas else 0,
            configs={k: e.value for k, e in entries.items() if e.value is not None},
            overrides=frozenset(k for k, e in entries.items() if _is_topic_override(e)),
        )
    return len(metadata.brokers), topics


def desired_topics(
    spec: TopicsFile, cluster_topic_names: Iterable[str] = ()
) -> list[ResolvedTopic]:
    """The file's concrete topics plus pattern topics already on the cluster (created on use)."""
    return spec.concrete_topics(spec.municipalities_in(cluster_topic_names))


def _create(
    admin: AdminClient, topics: Sequence[ResolvedTopic], broker_count: int
) -> tuple[list[str], list[str]]:
    """Create topics; returns (created, errors). An existing topic is not an error."""
    if not topics:
        return [], []
    new = [
        NewTopic(
            t.name,
            num_partitions=t.partitions,
            replication_factor=t.effective_replication_factor(broker_count),
            config=t.kafka_configs(broker_count),
        )
        for t in topics
    ]
    created: list[str] = []
    errors: list[str] = []
    for name, future in admin.create_topics(new, operation_timeout=ADMIN_TIMEOUT_S).items():
        try:
            future.result(timeout=ADMIN_TIMEOUT_S)
            created.append(name)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                errors.append(f"{name}: create failed: {error.str()}")
    return created, errors


def _wait_visible(admin: AdminClient, names: Iterable[str], timeout: float = 10.0) -> None:
    """Wait until new topics show in metadata, so a producer right after does not miss them."""
    pending = set(names)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending -= set(admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics)
        if pending:
            time.sleep(0.1)


def apply_topics(
    admin: AdminClient, spec: TopicsFile, *, dry_run: bool = False
) -> tuple[ApplyReport, list[Drift]]:
    """Make the cluster match the file; returns the report and the drift found before."""
    broker_count, _ = cluster_state(admin, names=())
    all_names = set(admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics)
    desired = desired_topics(spec, all_names)
    _, actual = cluster_state(admin, [t.name for t in desired])
    drifts = diff_topics(desired, actual, broker_count)
    report = ApplyReport()
    warning = replication_warning(desired, broker_count)
    if warning:
        report.warnings.append(warning)
    for drift in drifts:
        if not drift.fixable:
            report.errors.append(drift.describe())
    if dry_run or not drifts:
        return report, drifts

    by_name = {t.name: t for t in desired}
    missing = [by_name[d.topic] for d in drifts if d.kind == "missing"]
    report.created, errors = _create(admin, missing, broker_count)
    report.errors.extend(errors)
    _raise_partitions(admin, drifts, by_name, report)
    _alter_configs(admin, drifts, report)
    _wait_visible(admin, report.created)
    if not dry_run and (report.partitions_raised or report.configs_changed):
        _wait_converged(admin, spec)
    log.info(
        "topics_applied",
        created=len(report.created),
        partitions_raised=len(report.partitions_raised),
        configs_changed=len(report.configs_changed),
        errors=len(report.errors),
    )
    return report, drifts


def _raise_partitions(
    admin: AdminClient, drifts: list[Drift], by_name: dict[str, ResolvedTopic], report: ApplyReport
) -> None:
    """Raise partition counts that fell short of the file (they can only grow)."""
    raises = [
        NewPartitions(d.topic, int(d.expected or 0))
        for d in drifts
        if d.kind == "partitions" and d.fixable
    ]
    if not raises:
        return
    for name, future in admin.create_partitions(raises).items():
        try:
            future.result(timeout=ADMIN_TIMEOUT_S)
            report.partitions_raised.append(f"{name} -> {by_name[name].partitions}")
        except KafkaException as exc:
            report.errors.append(f"{name}: partition increase failed: {exc.args[0].str()}")


def _alter_configs(admin: AdminClient, drifts: list[Drift], report: ApplyReport) -> None:
    """Set the configs the file names; delete overrides it does not (incrementally)."""
    changes: dict[str, list[ConfigEntry]] = defaultdict(list)
    for d in drifts:
        if d.kind == "config" and d.config:
            changes[d.topic].append(
                ConfigEntry(d.config, str(d.expected), incremental_operation=AlterConfigOpType.SET)
            )
        elif d.kind == "unmanaged_config" and d.config:
            changes[d.topic].append(
                ConfigEntry(d.config, None, incremental_operation=AlterConfigOpType.DELETE)
            )
    if not changes:
        return
    resources = [
        ConfigResource(ResourceType.TOPIC, name, incremental_configs=entries)
        for name, entries in sorted(changes.items())
    ]
    for resource, future in admin.incremental_alter_configs(resources).items():
        keys = ", ".join(e.name for e in changes[resource.name])
        try:
            future.result(timeout=ADMIN_TIMEOUT_S)
            report.configs_changed.append(f"{resource.name}: {keys}")
        except KafkaException as exc:
            report.errors.append(f"{resource.name}: config change failed: {exc.args[0].str()}")


def _wait_converged(admin: AdminClient, spec: TopicsFile, timeout: float = 15.0) -> None:
    """Return once the brokers show what was applied (or after `timeout`): the controller
    acknowledges a change before every broker's metadata reflects it, and a `check` right
    after `apply` must not report drift that is already repaired."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, drifts = apply_topics(admin, spec, dry_run=True)
        if not any(d.fixable for d in drifts):
            return
        time.sleep(0.2)


def check_topics(admin: AdminClient, spec: TopicsFile) -> tuple[list[Drift], str | None]:
    """The drift between file and cluster, and the replication-capping warning if any."""
    report, drifts = apply_topics(admin, spec, dry_run=True)
    return drifts, (report.warnings[0] if report.warnings else None)


# --- topics on first use ------------------------------------------------------------------

#: (bootstrap servers, topic names) already ensured in this process
_ensured: set[tuple[str, tuple[str, ...]]] = set()
_ensure_lock = threading.Lock()


def _spec_for(settings: Settings) -> TopicsFile:
    return _load_cached(settings.topics_file)


_spec_cache: dict[tuple[Path, float], TopicsFile] = {}


def _load_cached(path: Path) -> TopicsFile:
    key = (path, path.stat().st_mtime if path.exists() else 0.0)
    if key not in _spec_cache:
        _spec_cache[key] = load_topics(path)
    return _spec_cache[key]


def ensure_agency_topics(
    agency_code: str,
    admin: AdminClient | None = None,
    *,
    spec: TopicsFile | None = None,
    settings: Settings | None = None,
    only: Iterable[str] | None = None,
) -> list[str]:
    """Create the agency's source and notification topics if missing; return their names.

    A municipality's topics come from the `{cbs}` pattern entries, so any valid
    `gemeente:<4 digits>` works without editing topics.yaml. Idempotent; after the first
    success for the same topics and cluster it does no I/O in this process.
    Blocking: call it from a thread (e.g. `loop.run_in_executor`) in async code.
    """
    settings = settings or get_settings()
    agency_code = AgencyCode(agency_code)  # a no-op for a code parsed where it entered
    spec = spec or _spec_for(settings)
    topics = spec.topics_for_agency(agency_code)
    if only is not None:
        # a principal that may not see all of the agency's topics (the webhook bridge sees
        # only notifications) ensures just the ones it uses
        wanted = set(only)
        topics = [t for t in topics if t.name in wanted]
    names = [t.name for t in topics]
    # An `admin` handed in must talk to the cluster of `settings.bootstrap_servers`.
    key = (settings.bootstrap_servers, tuple(names))
    if key in _ensured:
        return names
    with _ensure_lock:
        if key in _ensured:
            return names
        admin = admin or make_admin(settings=settings)
        metadata = admin.list_topics(timeout=ADMIN_TIMEOUT_S)
        missing = [t for t in topics if t.name not in metadata.topics]
        if missing:
            created, errors = _create(admin, missing, len(metadata.brokers))
            if errors:
                raise TopicAdminFailed("; ".join(errors))
            _wait_visible(admin, [t.name for t in missing])
            log.info("agency_topics_created", agency=agency_code, topics=created)
        _ensured.add(key)
    return names


def clear_ensure_cache() -> None:
    """Forget which agencies' topics were ensured (tests, or after a cluster reset)."""
    with _ensure_lock:
        _ensured.clear()


def expected_topics(settings: Settings | None = None) -> list[str]:
    """The concrete topic names topics.yaml declares (patterns for the listed municipalities)."""
    settings = settings or get_settings()
    return [t.name for t in _spec_for(settings).concrete_topics()]
