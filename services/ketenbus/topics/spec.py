"""topics.yaml as validated pydantic models, and its expansion into concrete topics.

The file lists agencies, services, topics (by `name`, or by `pattern` with the `{cbs}`
placeholder for any municipality) and service-managed internal topic prefixes. Loading
validates every cross-reference; an error names the entry it is about
(`topics[3] (events.nla): ...`). Pure: no Kafka I/O here (see `topics_admin`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ketenbus.agencies import (
    GEMEENTE_PREFIX,
    AgencyCode,
    InvalidAgency,
    is_gemeente,
)
from ketenbus.errors import KetenbusError

CBS = "{cbs}"
GEMEENTE_PATTERN = f"{GEMEENTE_PREFIX}{CBS}"
_CBS_CODE = re.compile(r"^\d{4}$")
_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
_DURATION = re.compile(r"^(\d+)\s*(ms|s|m|h|d|w)$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
INFINITE = ("infinite", "forever", "-1")

CleanupPolicy = Literal["delete", "compact", "compact,delete"]
AgencyKind = Literal[
    "municipality",
    "labour_inspectorate",
    "police",
    "staffing_market_authority",
    "tax_authority",
    "other",
]


class TopicsError(KetenbusError):
    """Base of the topic administration errors."""


class TopicsFileInvalid(TopicsError):
    """topics.yaml is unreadable or violates its schema; the message names the entry."""


class UnknownAgencyTopics(TopicsError):
    """topics.yaml declares no topics for this agency."""


def parse_retention(value: int | str) -> int:
    """Retention in ms: an int (ms), `-1`/`infinite`/`forever`, or `<n><ms|s|m|h|d|w>`."""
    if isinstance(value, bool):
        raise ValueError("retention must be a duration, not a boolean")
    if isinstance(value, int):
        if value < -1:
            raise ValueError(f"retention {value} ms must be >= 0 (or -1 for infinite)")
        return value
    text = value.strip().lower()
    if text in INFINITE:
        return -1
    if text.isdigit():
        return int(text)
    match = _DURATION.match(text)
    if not match:
        raise ValueError(
            f"retention {value!r}: expected ms as an int, 'infinite', or e.g. 7d, 12h, 30m"
        )
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def expand(template: str, cbs: str) -> str:
    """Substitute a municipality's CBS code into a `{cbs}` template."""
    return template.replace(CBS, cbs)


def cbs_of(code: str) -> str:
    """The CBS code of a municipality agency code (`gemeente:0599` -> `0599`)."""
    cbs = AgencyCode(code).cbs if is_gemeente(code) else None
    if cbs is None:
        raise InvalidAgency(f"{code!r} is not a municipality (gemeente:<4-digit CBS code>)")
    return cbs


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Defaults(_Strict):
    """Values every topic entry inherits unless it sets its own."""

    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=3, ge=1)
    min_insync_replicas: int = Field(default=2, ge=1)
    cleanup_policy: CleanupPolicy = "delete"
    retention: int | str = Field(default="30d", validate_default=True)

    @field_validator("retention")
    @classmethod
    def _check_retention(cls, value: int | str) -> int:
        return parse_retention(value)


class Agency(_Strict):
    """A public body; `code: "gemeente:{cbs}"` is the pattern entry for every municipality."""

    code: str = Field(description="agency code (nla, politie, nau, gemeente:<cbs>)")
    name: str
    kind: AgencyKind
    oin: str = Field(description="Organisatie-identificatienummer (20 digits), CloudEvents source")
    oin_placeholder: bool = Field(False, description="true while the OIN is not the real one")
    principal: str = Field(description="Kafka principal, e.g. User:nla")
    group_prefixes: list[str] = Field(
        default_factory=list,
        description="consumer group id prefixes it may use; default: its principal name",
    )
    adapter: str | None = Field(
        None, description="import name of the adapter package serving it (default: builtin)"
    )

    @property
    def is_pattern(self) -> bool:
        return CBS in self.code

    @model_validator(mode="after")
    def _check(self) -> Agency:
        sample = "0000"
        if self.is_pattern and self.code != GEMEENTE_PATTERN:
            raise ValueError(f"the only agency pattern is {GEMEENTE_PATTERN!r}")
        try:
            AgencyCode(expand(self.code, sample))
        except InvalidAgency as exc:
            raise ValueError(str(exc)) from exc
        if not re.fullmatch(r"\d{20}", expand(self.oin, sample)):
            raise ValueError(f"oin {self.oin!r} must be 20 digits")
        if not re.fullmatch(r"User:[a-z][a-z0-9-]{0,62}", expand(self.principal, sample)):
            raise ValueError(f"principal {self.principal!r} must look like User:<lower-case-name>")
        for text in (self.oin, self.principal, self.name, *self.group_prefixes):
            if CBS in text and not self.is_pattern:
                raise ValueError(f"{CBS} is only allowed in the {GEMEENTE_PATTERN!r} entry")
        return self

    def for_municipality(self, cbs: str) -> Agency:
        """The concrete agency of one municipality, from the pattern entry."""
        return self.model_copy(
            update={
                "code": expand(self.code, cbs),
                "name": expand(self.name, cbs),
                "oin": expand(self.oin, cbs),
                "principal": expand(self.principal, cbs),
                "group_prefixes": [expand(p, cbs) for p in self.group_prefixes],
            }
        )

    @property
    def consumer_group_prefixes(self) -> list[str]:
        return self.group_prefixes or [self.principal.removeprefix("User:")]


class Service(_Strict):
    """A backbone service with its own principal (correlator, webhook, ops, intake-*)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    principal: str
    group_prefixes: list[str] = Field(
        default_factory=list, description="consumer group id prefixes it may use"
    )
    publishes_for: list[str] = Field(
        default_factory=list,
        description="agencies whose agency service (intake) this is: writes their source"
        " topics, describes (and creates on first use) their topics",
    )
    monitors: bool = Field(
        False, description="describes every topic and consumer group (lag), reads no record"
    )
    description: str = ""

    @field_validator("principal")
    @classmethod
    def _check_principal(cls, value: str) -> str:
        if not re.fullmatch(r"User:[a-z][a-z0-9-]{0,62}", value):
            raise ValueError(f"principal {value!r} must look like User:<lower-case-name>")
        return value


class TopicEntry(_Strict):
    """One topic (`name`) or a topic per municipality (`pattern` with `{cbs}`)."""

    name: str | None = None
    pattern: str | None = None
    owner: str | None = Field(
        None, description="the agency whose source/notification topic this is"
    )
    description: str = ""
    key: str | None = Field(None, description="what the record key is (required if compacted)")
    partitions: int | None = Field(None, ge=1)
    replication_factor: int | None = Field(None, ge=1)
    min_insync_replicas: int | None = Field(None, ge=1)
    cleanup_policy: CleanupPolicy | None = None
    retention: int | str | None = None
    configs: dict[str, str | int] = Field(
        default_factory=dict, description="further Kafka topic configs (e.g. segment.ms)"
    )
    schemas: list[str] = Field(default_factory=list, description="Avro full names it carries")
    producers: list[str] = Field(default_factory=list)
    consumers: list[str] = Field(default_factory=list)

    @field_validator("cleanup_policy", mode="before")
    @classmethod
    def _normalise_policy(cls, value: Any) -> Any:
        if isinstance(value, str):
            return ",".join(sorted(p.strip() for p in value.split(",")))
        return value

    @field_validator("retention")
    @classmethod
    def _check_retention(cls, value: int | str | None) -> int | None:
        return None if value is None else parse_retention(value)

    @field_validator("configs")
    @classmethod
    def _check_configs(cls, value: dict[str, str | int]) -> dict[str, str | int]:
        managed = {"cleanup.policy", "retention.ms", "min.insync.replicas"}
        clash = managed & set(value)
        if clash:
            raise ValueError(f"set {sorted(clash)} through their own fields, not configs")
        return value

    @model_validator(mode="after")
    def _check(self) -> TopicEntry:
        if (self.name is None) == (self.pattern is None):
            raise ValueError("give exactly one of `name` or `pattern`")
        if self.pattern is not None and self.pattern.count(CBS) != 1:
            raise ValueError(f"pattern {self.pattern!r} must contain {CBS} exactly once")
        if self.name is not None and CBS in self.name:
            raise ValueError(f"{CBS} in `name`: use `pattern` for a per-municipality topic")
        if not _TOPIC_NAME.match(expand(self.label, "0000")):
            raise ValueError(f"{self.label!r} is not a valid Kafka topic name")
        if self.cleanup_policy is not None and "compact" in self.cleanup_policy and not self.key:
            raise ValueError("a compacted topic must say what its `key` is")
        return self

    @property
    def label(self) -> str:
        return self.name if self.name is not None else str(self.pattern)

    @property
    def is_pattern(self) -> bool:
        return self.pattern is not None

    def pattern_regex(self) -> re.Pattern[str]:
        """Matches concrete topic names of this pattern, group 1 = CBS code."""
        before, after = str(self.pattern).split(CBS)
        return re.compile(f"^{re.escape(before)}(\\d{{4}}){re.escape(after)}$")

    def pattern_prefix(self) -> str:
        """The fixed part before `{cbs}` (for PREFIXED ACLs)."""
        return str(self.pattern).split(CBS)[0]


class InternalTopics(_Strict):
    """Topics a service creates itself (faust changelogs): not applied, only granted."""

    prefix: str
    managed_by: str
    description: str = ""


@dataclass(frozen=True)
class ResolvedTopic:
    """A concrete topic with its effective settings (before capping to the cluster)."""

    name: str
    partitions: int
    replication_factor: int
    min_insync_replicas: int
    configs: dict[str, str] = field(hash=False)
    entry: TopicEntry = field(hash=False, compare=False)

    def kafka_configs(self, broker_count: int | None = None) -> dict[str, str]:
        """Topic configs to set; min.insync.replicas capped to the effective RF."""
        configs = dict(self.configs)
        rf = self.effective_replication_factor(broker_count)
        configs["min.insync.replicas"] = str(min(self.min_insync_replicas, rf))
        return configs

    def effective_replication_factor(self, broker_count: int | None = None) -> int:
        if broker_count is None:
            return self.replication_factor
        return max(1, min(self.replication_factor, broker_count))


class TopicsFile(_Strict):
    """The whole of topics.yaml."""

    version: Literal[1] = 1
    defaults: Defaults = Defaults()  # frozen, so one shared instance is safe
    agencies: list[Agency] = Field(default_factory=list)
    services: list[Service] = Field(default_factory=list)
    topics: list[TopicEntry]
    internal: list[InternalTopics] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_references(self) -> TopicsFile:
        problems: list[str] = []
        codes = [a.code for a in self.agencies]
        for dup in _duplicates(codes):
            problems.append(f"agencies: code {dup!r} listed twice")
        for dup in _duplicates([a.principal for a in self.agencies if not a.is_pattern]):
            problems.append(f"agencies: principal {dup!r} used twice")
        for dup in _duplicates([s.name for s in self.services]):
            problems.append(f"services: name {dup!r} listed twice")
        clash = set(codes) & {s.name for s in self.services}
        if clash:
            problems.append(f"services: {sorted(clash)} are also agency codes")
        for dup in _duplicates([t.label for t in self.topics]):
            problems.append(f"topics: {dup!r} listed twice")
        for i, topic in enumerate(self.topics):
            where = f"topics[{i}] ({topic.label})"
            problems.extend(f"{where}: {p}" for p in self._topic_problems(topic))
        for dup in _duplicates([s.principal for s in self.services]):
            problems.append(f"services: principal {dup!r} used twice")
        for service in self.services:
            for agency in service.publishes_for:
                if not self.is_agency(agency):
                    problems.append(
                        f"services ({service.name}): publishes_for {agency!r} is not an agency"
                    )
        services = {s.name for s in self.services}
        for i, internal in enumerate(self.internal):
            if internal.managed_by not in services:
                problems.append(
                    f"internal[{i}] ({internal.prefix}): managed_by {internal.managed_by!r}"
                    " is not a service"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _topic_problems(self, topic: TopicEntry) -> list[str]:
        problems: list[str] = []
        if topic.owner is not None:
            if CBS in topic.owner and not topic.is_pattern:
                problems.append(f"owner {topic.owner!r} with {CBS} needs a `pattern` entry")
            elif not self.is_agency(topic.owner):
                problems.append(f"owner {topic.owner!r} is not an agency")
        if topic.is_pattern and topic.owner is not None and CBS not in topic.owner:
            problems.append(f"owner of a pattern entry must be {GEMEENTE_PATTERN!r}")
        for role, refs in (("producer", topic.producers), ("consumer", topic.consumers)):
            for dup in _duplicates(refs):
                problems.append(f"{role} {dup!r} listed twice")
            for ref in refs:
                if not (self.is_agency(ref) or ref in self.service_names):
                    problems.append(f"{role} {ref!r} is neither an agency nor a service")
        rf = topic.replication_factor or self.defaults.replication_factor
        isr = topic.min_insync_replicas or self.defaults.min_insync_replicas
        if isr > rf:
            problems.append(f"min_insync_replicas {isr} > replication_factor {rf}")
        return problems

    @property
    def service_names(self) -> set[str]:
        return {s.name for s in self.services}

    def is_agency(self, ref: str) -> bool:
        """A listed agency, the municipality pattern, or any municipality when it is declared."""
        if ref in {a.code for a in self.agencies}:
            return True
        return (ref == GEMEENTE_PATTERN or is_gemeente(ref)) and self.gemeente_pattern is not None

    @property
    def gemeente_pattern(self) -> Agency | None:
        return next((a for a in self.agencies if a.is_pattern), None)

    def agency(self, code: str) -> Agency:
        """The agency of a code; unlisted municipalities come from the pattern entry."""
        code = AgencyCode(code)
        for agency in self.agencies:
            if agency.code == code:
                return agency
        pattern = self.gemeente_pattern
        if code.cbs is not None and pattern is not None:
            return pattern.for_municipality(code.cbs)
        raise UnknownAgencyTopics(f"agency {code!r} is not declared in topics.yaml")

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise TopicsFileInvalid(f"service {name!r} is not declared in topics.yaml")

    @property
    def listed_municipalities(self) -> list[str]:
        """CBS codes of the municipalities listed explicitly under agencies."""
        return sorted(cbs_of(a.code) for a in self.agencies if is_gemeente(a.code))

    def resolve(self, entry: TopicEntry, cbs: str | None = None) -> ResolvedTopic:
        """A concrete topic from an entry (a pattern entry needs the CBS code)."""
        if entry.is_pattern:
            if cbs is None or not _CBS_CODE.match(cbs):
                raise TopicsFileInvalid(f"{entry.label}: a 4-digit CBS code is needed, not {cbs!r}")
            name = expand(str(entry.pattern), cbs)
        else:
            name = str(entry.name)
        d = self.defaults
        policy = entry.cleanup_policy or d.cleanup_policy
        retention = entry.retention if entry.retention is not None else d.retention
        configs = {"cleanup.policy": policy, "retention.ms": str(retention)}
        configs.update({k: str(v) for k, v in entry.configs.items()})
        return ResolvedTopic(
            name=name,
            partitions=entry.partitions or d.partitions,
            replication_factor=entry.replication_factor or d.replication_factor,
            min_insync_replicas=entry.min_insync_replicas or d.min_insync_replicas,
            configs=configs,
            entry=entry,
        )

    def concrete_topics(self, municipalities: Iterable[str] = ()) -> list[ResolvedTopic]:
        """Every named topic, plus each pattern expanded for the listed and given CBS codes."""
        codes = sorted(set(self.listed_municipalities) | set(municipalities))
        resolved: list[ResolvedTopic] = []
        for entry in self.topics:
            if entry.is_pattern:
                resolved.extend(self.resolve(entry, cbs) for cbs in codes)
            else:
                resolved.append(self.resolve(entry))
        return resolved

    def municipalities_in(self, topic_names: Iterable[str]) -> set[str]:
        """CBS codes of existing topics that match a pattern entry (topics created on use)."""
        regexes = [e.pattern_regex() for e in self.topics if e.is_pattern]
        found: set[str] = set()
        for name in topic_names:
            for regex in regexes:
                match = regex.match(name)
                if match:
                    found.add(match.group(1))
        return found

    def topics_for_agency(self, code: str) -> list[ResolvedTopic]:
        """The topics an agency owns (its source and notification topics)."""
        code = AgencyCode(code)
        resolved = [self.resolve(e) for e in self.topics if not e.is_pattern and e.owner == code]
        cbs = code.cbs
        if cbs is not None and self.gemeente_pattern is not None:
            resolved.extend(
                self.resolve(e, cbs)
                for e in self.topics
                if e.is_pattern and e.owner == GEMEENTE_PATTERN
            )
        if not resolved:
            raise UnknownAgencyTopics(f"topics.yaml declares no topics owned by {code!r}")
        return resolved


def _duplicates(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    dups: list[str] = []
    for item in items:
        if item in seen and item not in dups:
            dups.append(item)
        seen.add(item)
    return dups


def _entry_label(raw: Any, loc: tuple[int | str, ...]) -> str:
    """`topics[3] (events.nla).partitions` from a pydantic error location."""
    parts: list[str] = []
    node = raw
    for step in loc:
        if isinstance(step, int):
            parts[-1] += f"[{step}]"
            node = node[step] if isinstance(node, list) and step < len(node) else None
            if isinstance(node, dict):
                keys = ("code", "name", "pattern", "prefix")  # code first: agencies have names
                label = next((node[k] for k in keys if node.get(k)), None)
                if label:
                    parts[-1] += f" ({label})"
        else:
            parts.append(str(step))
            node = node.get(step) if isinstance(node, dict) else None
    return ".".join(parts) or "topics.yaml"


def parse_topics(raw: Any, *, source: str = "topics.yaml") -> TopicsFile:
    """Validate parsed YAML; raise `TopicsFileInvalid` naming each bad entry."""
    if not isinstance(raw, dict):
        raise TopicsFileInvalid(f"{source}: expected a mapping at the top level")
    try:
        return TopicsFile.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            # Errors from validators carry "Value error, " in front; the entry is in loc.
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{_entry_label(raw, tuple(error['loc']))}: {message}")
        raise TopicsFileInvalid(f"{source} is invalid:\n  " + "\n  ".join(lines)) from exc


def check_schemas(spec: TopicsFile, schemas_dir: Path) -> None:
    """Every schema a topic claims to carry exists as `schemas/<full name>.avsc`."""
    missing = [
        f"topics[{i}] ({entry.label}): schema {name!r} not found in {schemas_dir}"
        for i, entry in enumerate(spec.topics)
        for name in entry.schemas
        if not (schemas_dir / f"{name}.avsc").is_file()
    ]
    if missing:
        raise TopicsFileInvalid("\n".join(missing))


def load_topics(path: Path, schemas_dir: Path | None = None) -> TopicsFile:
    """Read and validate a topics file (and, if given, the schemas it names)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TopicsFileInvalid(f"cannot read {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise TopicsFileInvalid(f"{path} is not valid YAML: {exc}") from exc
    spec = parse_topics(raw, source=str(path))
    if schemas_dir is not None:
        check_schemas(spec, schemas_dir)
    return spec
