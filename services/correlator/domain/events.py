"""What the correlator knows of an agency event, and the messages aggregates exchange.

Everything here is an immutable value with a JSON form (`to_json` / `from_json`), so it
can travel on the correlator's internal topics and live in its tables. Times are epoch
milliseconds (event time).

Rules: docs/correlation.md#rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from ketenbus.vocabulary import AddressRecord, AdmissionChange, CaseActionType, ViolationCode

#: What the correlator calls each agency event (the admission changes are one type).
EventType = Literal["complaint", "inspection", "sanction", "admission", "case_action"]
#: How an event names an organisation (its `<role>_kvk` field).
Role = Literal["landlord", "staffing_agency", "employer", "target"]

#: Avro schema full name -> event type.
EVENT_TYPES: Final[dict[str, EventType]] = {
    "nl.ketenbus.events.Complaint": "complaint",
    "nl.ketenbus.events.Inspection": "inspection",
    "nl.ketenbus.events.Sanction": "sanction",
    "nl.ketenbus.events.AdmissionChanged": "admission",
    "nl.ketenbus.events.CaseAction": "case_action",
}


class NotAnAgencyEvent(ValueError):
    """A decoded record is not one of the agency event schemas."""


def epoch_ms(value: datetime | int) -> int:
    return value if isinstance(value, int) else int(value.timestamp() * 1000)


@dataclass(frozen=True)
class SourceEvent:
    """An agency event, reduced to what correlation needs (no free text, no persons)."""

    event_id: str
    type: EventType
    agency: str
    ref: str
    occurred_at: int
    dwelling: str | None = None
    address: AddressRecord | None = None
    organisations: tuple[tuple[Role, str], ...] = ()  # (role, kvk), sorted
    violations: tuple[ViolationCode, ...] = ()
    follow_up: bool = False
    access_refused: bool = False
    admission_change: AdmissionChange | None = None
    action: CaseActionType | None = None

    @property
    def establishes(self) -> bool:
        """Inspections and sanctions establish their codes; complaints only allege them."""
        return self.type in ("inspection", "sanction")

    @property
    def is_step(self) -> bool:
        """A sanction or case_action is a step on a case (rule 6)."""
        return self.type in ("sanction", "case_action")

    @property
    def is_clean_follow_up(self) -> bool:
        """Rule 7: a follow-up inspection that found nothing (and got in)."""
        return (
            self.type == "inspection"
            and self.follow_up
            and not self.violations
            and not self.access_refused
        )

    @property
    def kvks(self) -> frozenset[str]:
        kept: frozenset[str] | None = self.__dict__.get("_kvks")
        if kept is None:  # asked of every event of a case on every view
            kept = frozenset(kvk for _, kvk in self.organisations)
            object.__setattr__(self, "_kvks", kept)  # a memo, not a field: eq ignores it
        return kept

    @property
    def target(self) -> str | None:
        return next((kvk for role, kvk in self.organisations if role == "target"), None)

    @property
    def municipality_code(self) -> str | None:
        return self.address.get("municipality_code") if self.address else None

    @property
    def label(self) -> str:
        return f"{self.agency}/{self.ref}"

    @property
    def bag_alias(self) -> BagAlias | None:
        """A BAG id given with a postcode address makes the BAG id its alias."""
        bag_id = self.address.get("bag_id") if self.address else None
        if bag_id and self.dwelling and not self.dwelling.startswith("BAG-"):
            return BagAlias(bag_key=f"BAG-{bag_id}", address_key=self.dwelling)
        return None

    def to_json(self) -> dict[str, Any]:
        """The event's JSON form; computed once (an event never changes, and a case writes
        every event it holds each time it is stored). Callers must not modify it."""
        cached: dict[str, Any] | None = self.__dict__.get("_json")
        if cached is None:
            cached = self._json_form()
            object.__setattr__(self, "_json", cached)  # a memo, not a field: eq ignores it
        return cached

    def _json_form(self) -> dict[str, Any]:
        # Spelled out, not `asdict`, which deep-copies field by field (~10x slower).
        return {
            "event_id": self.event_id,
            "type": self.type,
            "agency": self.agency,
            "ref": self.ref,
            "occurred_at": self.occurred_at,
            "dwelling": self.dwelling,
            "address": dict(self.address) if self.address else None,
            "organisations": [list(pair) for pair in self.organisations],
            "violations": list(self.violations),
            "follow_up": self.follow_up,
            "access_refused": self.access_refused,
            "admission_change": self.admission_change,
            "action": self.action,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SourceEvent:
        values = dict(data)
        values["organisations"] = tuple(tuple(pair) for pair in values.get("organisations", ()))
        values["violations"] = tuple(values.get("violations", ()))
        return cls(**values)

    @classmethod
    def from_avro(cls, schema: str, record: Mapping[str, Any]) -> SourceEvent:
        """Reduce a decoded agency event (see schemas/) to a SourceEvent."""
        kind = EVENT_TYPES.get(schema)
        if kind is None:
            raise NotAnAgencyEvent(f"{schema} is not an agency event")
        organisations: set[tuple[Role, str | None]] = {
            ("landlord", record.get("landlord_kvk")),
            ("staffing_agency", record.get("staffing_agency_kvk")),
            ("employer", record.get("employer_kvk")),
            ("target", record.get("target_kvk")),
        }
        address: AddressRecord | None = record.get("address")
        return cls(
            event_id=record["event_id"],
            type=kind,
            agency=record["agency"],
            ref=record["ref"],
            occurred_at=epoch_ms(record["occurred_at"]),
            dwelling=address["key"] if address else None,
            address=address.copy() if address else None,
            organisations=tuple(sorted((r, k) for r, k in organisations if k)),
            violations=tuple(sorted(set(record.get("violations") or ()))),
            follow_up=bool(record.get("follow_up", False)),
            access_refused=bool(record.get("access_refused", False)),
            admission_change=record.get("change"),
            action=record.get("action"),
        )


@dataclass(frozen=True)
class EventLink:
    """A reference to an event held by another aggregate (need-to-know: agency + ref)."""

    event_id: str
    agency: str
    ref: str
    occurred_at: int
    kvk: str

    @property
    def label(self) -> str:
        return f"{self.agency}/{self.ref}"

    def to_json(self) -> dict[str, Any]:
        """`asdict(self)`, spelled out (asdict deep-copies field by field, ~10x slower)."""
        return {
            "event_id": self.event_id,
            "agency": self.agency,
            "ref": self.ref,
            "occurred_at": self.occurred_at,
            "kvk": self.kvk,
        }


@dataclass(frozen=True)
class OrganisationFacts:
    """What an organisation profile tells its linked dwellings (rules 2 and 5).

    Facts only grow, so merging is a union: idempotent and order-independent.
    """

    kvk: str
    revocations: frozenset[EventLink] = frozenset()
    recidive_sanctions: frozenset[str] = frozenset()

    def merge(self, other: OrganisationFacts) -> OrganisationFacts:
        return OrganisationFacts(
            kvk=self.kvk,
            revocations=self.revocations | other.revocations,
            recidive_sanctions=self.recidive_sanctions | other.recidive_sanctions,
        )

    def to_json(self) -> dict[str, Any]:
        """Computed once (a dwelling stores its facts each time it is stored); read-only."""
        cached: dict[str, Any] | None = self.__dict__.get("_json")
        if cached is None:
            cached = {
                "kvk": self.kvk,
                "revocations": sorted((link.to_json() for link in self.revocations), key=str),
                "recidive_sanctions": sorted(self.recidive_sanctions),
            }
            object.__setattr__(self, "_json", cached)  # a memo, not a field: eq ignores it
        return cached

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OrganisationFacts:
        return cls(
            kvk=data["kvk"],
            revocations=frozenset(EventLink(**link) for link in data["revocations"]),
            recidive_sanctions=frozenset(data["recidive_sanctions"]),
        )


@dataclass(frozen=True)
class DwellingSummary:
    """What a dwelling tells each organisation it is linked to (rule 3). Grows only."""

    key: str
    established: frozenset[ViolationCode] = frozenset()
    established_since: int | None = None
    gemeente: str | None = None

    def merge(self, other: DwellingSummary) -> DwellingSummary:
        since = [t for t in (self.established_since, other.established_since) if t is not None]
        return DwellingSummary(
            key=self.key,
            established=self.established | other.established,
            established_since=min(since) if since else None,
            gemeente=min(filter(None, (self.gemeente, other.gemeente)), default=None),
        )

    def to_json(self) -> dict[str, Any]:
        """Computed once (a profile stores its dwellings each time it is stored); read-only."""
        cached: dict[str, Any] | None = self.__dict__.get("_json")
        if cached is None:
            cached = {
                "key": self.key,
                "established": sorted(self.established),
                "established_since": self.established_since,
                "gemeente": self.gemeente,
            }
            object.__setattr__(self, "_json", cached)  # a memo, not a field: eq ignores it
        return cached

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DwellingSummary:
        return cls(
            key=data["key"],
            established=frozenset(data["established"]),
            established_since=data["established_since"],
            gemeente=data["gemeente"],
        )


@dataclass(frozen=True)
class ClockTick:
    """The backbone's event-time clock reached `now` (rule 6), sent to every partition."""

    now: int


@dataclass(frozen=True)
class BagAlias:
    """A BAG id was given together with this address key: the BAG id is its alias."""

    bag_key: str
    address_key: str

    def to_json(self) -> dict[str, Any]:
        return {"bag_key": self.bag_key, "address_key": self.address_key}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BagAlias:
        return cls(bag_key=data["bag_key"], address_key=data["address_key"])


@dataclass(frozen=True)
class Forwarded:
    """Events held under a BAG key, forwarded to the address they turned out to be."""

    events: tuple[SourceEvent, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {"events": [event.to_json() for event in self.events]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Forwarded:
        return cls(events=tuple(SourceEvent.from_json(item) for item in data["events"]))
