"""The dwelling case: everything that happens at one address (rules 1, 2, 4-8).

State is the set of events at the dwelling plus the facts its organisations sent; the
view is a pure function of that state and the clock. Folding is a set union, so the
same event twice changes nothing and arrival order does not matter (rule 8).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property, singledispatch
from typing import Any

from correlator.domain.case import CaseView
from correlator.domain.events import (
    BagAlias,
    DwellingSummary,
    EventLink,
    Forwarded,
    OrganisationFacts,
    SourceEvent,
)
from correlator.domain.rules import LEGAL_BASIS, STALL_AFTER_MS, competent_agencies

UNADMITTED = "UNADMITTED_LENDING"


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class DwellingCase:
    """One dwelling's aggregate, keyed by the normalised address."""

    key: str
    events: Mapping[str, SourceEvent] = field(default_factory=dict)
    org_facts: Mapping[str, OrganisationFacts] = field(default_factory=dict)
    #: The backbone clock this case was last evaluated at (to see what a tick changes).
    clock: int = 0
    #: For a `BAG-<id>` key: the address keys given with that BAG id elsewhere.
    aliases: frozenset[str] = frozenset()

    @property
    def alias_of(self) -> str | None:
        """The address whose case this BAG key's events belong to, once known."""
        return min(self.aliases) if self.aliases else None

    @property
    def case_id(self) -> str:
        return f"dwelling:{self.key}"

    @cached_property
    def organisations(self) -> frozenset[str]:
        return frozenset(kvk for event in self.events.values() for kvk in event.kvks)

    @cached_property
    def timeline(self) -> list[_Item]:
        return _timeline(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "events": [event.to_json() for event in self.events.values()],
            "org_facts": [facts.to_json() for facts in self.org_facts.values()],
            "clock": self.clock,
            "aliases": sorted(self.aliases),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DwellingCase:
        events = (SourceEvent.from_json(item) for item in data["events"])
        facts = (OrganisationFacts.from_json(item) for item in data["org_facts"])
        return cls(
            key=data["key"],
            events={event.event_id: event for event in events},
            org_facts={item.kvk: item for item in facts},
            clock=data.get("clock", 0),
            aliases=frozenset(data.get("aliases", ())),
        )


@singledispatch
def apply(message: object, case: DwellingCase) -> DwellingCase:
    """Fold one message into the dwelling case (idempotent, commutative)."""
    raise TypeError(f"a dwelling case cannot apply {type(message).__name__}")


@apply.register
def _(event: SourceEvent, case: DwellingCase) -> DwellingCase:
    if event.event_id in case.events:
        return case
    return replace(case, events={**case.events, event.event_id: event})


@apply.register
def _(forwarded: Forwarded, case: DwellingCase) -> DwellingCase:
    for event in forwarded.events:
        case = apply(event, case)
    return case


@apply.register
def _(alias: BagAlias, case: DwellingCase) -> DwellingCase:
    if alias.address_key in case.aliases:
        return case
    return replace(case, aliases=case.aliases | {alias.address_key})


@apply.register
def _(facts: OrganisationFacts, case: DwellingCase) -> DwellingCase:
    known = case.org_facts.get(facts.kvk)
    merged = known.merge(facts) if known else facts
    if merged == known:
        return case
    return replace(case, org_facts={**case.org_facts, facts.kvk: merged})


@dataclass(frozen=True)
class _Item:
    """One dated fact on the dwelling's timeline: an event, or a revocation reaching it."""

    at: int
    order: str
    label: str
    agency: str
    codes: frozenset[str]
    establishes: bool
    is_step: bool = False
    closes: bool = False


def _timeline(case: DwellingCase) -> list[_Item]:
    items = [
        _Item(
            at=event.occurred_at,
            order=event.event_id,
            label=event.label,
            agency=event.agency,
            codes=frozenset(event.violations),
            establishes=event.establishes,
            is_step=event.is_step,
            closes=event.is_clean_follow_up,
        )
        for event in case.events.values()
    ]
    # Rule 2: a revoked staffing agency's dwellings gain UNADMITTED_LENDING from the
    # later of the revocation and the first event linking the dwelling to that agency.
    for link in _revocations(case):
        first_link = min(e.occurred_at for e in case.events.values() if link.kvk in e.kvks)
        items.append(
            _Item(
                at=max(link.occurred_at, first_link),
                order=link.event_id,
                label=link.label,
                agency=link.agency,
                codes=frozenset({UNADMITTED}),
                establishes=True,
            )
        )
    return sorted(items, key=lambda item: (item.at, item.order))


def _revocations(case: DwellingCase) -> list[EventLink]:
    linked = case.organisations
    return sorted(
        (
            link
            for kvk, facts in case.org_facts.items()
            if kvk in linked
            for link in facts.revocations
        ),
        key=lambda link: (link.occurred_at, link.event_id),
    )


def corroborated(codes: set[str], established: set[str], agencies: set[str]) -> bool:
    """Rule 1: >= 2 distinct codes, and one established or events from >= 2 agencies."""
    return len(codes) >= 2 and (bool(established) or len(agencies) >= 2)


def gemeente_of(case: DwellingCase) -> str | None:
    """The address's municipality (its code on any event), else a contributing gemeente."""
    codes = sorted(filter(None, (e.municipality_code for e in case.events.values())))
    if codes:
        return f"gemeente:{codes[0]}"
    return min(
        (e.agency for e in case.events.values() if e.agency.startswith("gemeente:")), default=None
    )


def view(case: DwellingCase, clock: int) -> CaseView:
    """The dwelling case as it stands at event time `clock` (rules 1, 2, 4-7)."""
    codes: set[str] = set()
    established: set[str] = set()
    agencies: set[str] = set()
    sources: dict[str, list[str]] = {}
    status, opened_at, closed_at, ever_open = "signal", None, None, False
    reason = "rule 1: not (yet) corroborated: a signal"
    steps: list[int] = []
    for item in case.timeline:
        agencies.add(item.agency)
        if item.closes:
            status, closed_at = "closed", item.at
            reason = f"rule 7: closed by follow-up inspection {item.label} without findings"
            continue
        if status == "closed" and item.codes and closed_at is not None and item.at > closed_at:
            status = "signal"
            reason = f"rule 7: reopened by {item.label} after the closing inspection"
        codes |= item.codes
        if item.establishes:
            established |= item.codes
        for code in item.codes:
            sources.setdefault(code, []).append(item.label)
        if item.is_step:
            steps.append(item.at)
        if status == "signal" and corroborated(codes, established, agencies):
            status, opened_at, ever_open = "open", item.at, True
            basis = "an established code" if established else ">= 2 agencies"
            reason = f"rule 1: opened by {item.label}: {len(codes)} codes and {basis}"
    last_step = max([opened_at, *steps]) if opened_at is not None else None
    now = max([clock, *(e.occurred_at for e in case.events.values())])
    if status == "open" and last_step is not None and now - last_step > STALL_AFTER_MS:
        status = "stalled"
        reason = f"rule 6: stalled: no step for more than 30 days since {iso(last_step)}"

    gemeente = gemeente_of(case)
    parties = agencies | competent_agencies(codes, gemeente) | ({gemeente} if gemeente else set())
    recidive_ids = set().union(*(f.recidive_sanctions for f in case.org_facts.values()))
    recidive = any(event_id in case.events for event_id in recidive_ids)
    revocations = _revocations(case)
    event_labels = sorted({e.label for e in case.events.values()} | {r.label for r in revocations})
    return CaseView(
        case_id=case.case_id,
        kind="dwelling",
        key=case.key,
        status=status,
        violations=tuple(sorted(codes)),
        established=tuple(sorted(established)),
        agencies=tuple(sorted(agencies)),
        notified=tuple(sorted(parties)) if ever_open else (),
        lead_agency=gemeente,
        address=_best_address(case),
        organisations=tuple(sorted(case.organisations)),
        events=tuple(event_labels),
        recidive=recidive,
        opened_at=opened_at,
        last_step_at=last_step,
        indicators=("ACCESS_REFUSED",)
        if any(e.access_refused for e in case.events.values())
        else (),
        explanation=_explain(case, reason, codes, established, sources, revocations, recidive_ids),
    )


def _best_address(case: DwellingCase) -> Mapping[str, Any] | None:
    with_postcode = [e for e in case.events.values() if e.address and e.address.get("postcode")]
    pool = with_postcode or [e for e in case.events.values() if e.address]
    if not pool:
        return None
    first = min(pool, key=lambda e: (e.occurred_at, e.event_id))
    return first.address


def _explain(
    case: DwellingCase,
    reason: str,
    codes: set[str],
    established: set[str],
    sources: dict[str, list[str]],
    revocations: list[EventLink],
    recidive_ids: set[str],
) -> dict[str, Any]:
    links = [
        {
            "event": e.label,
            "type": e.type,
            "occurred_at": iso(e.occurred_at),
            "via": f"bag_id {e.address['bag_id']}"
            if e.dwelling != case.key and e.address
            else f"address {case.key}",
        }
        for e in sorted(case.events.values(), key=lambda e: (e.occurred_at, e.event_id))
    ] + [
        {
            "event": link.label,
            "type": "admission_revoked",
            "occurred_at": iso(link.occurred_at),
            "via": f"kvk {link.kvk} (rule 2: revoked admission flows to linked dwellings)",
        }
        for link in revocations
    ]
    return {
        "status_rule": reason,
        "links": links,
        "violations": [
            {
                "code": code,
                "legal_basis": LEGAL_BASIS.get(code, "?"),
                "established": code in established,
                "sources": sorted(set(sources.get(code, []))),
            }
            for code in sorted(codes)
        ],
        "recidive_sanctions": sorted(
            case.events[i].label for i in recidive_ids if i in case.events
        ),
    }


def summary(case: DwellingCase) -> DwellingSummary:
    """What the dwelling's organisations need to know of it (rule 3)."""
    established_at = [item.at for item in case.timeline if item.establishes and item.codes]
    established = set().union(*(i.codes for i in case.timeline if i.establishes))
    return DwellingSummary(
        key=case.key,
        established=frozenset(established),
        established_since=min(established_at, default=None),
        gemeente=gemeente_of(case),
    )
