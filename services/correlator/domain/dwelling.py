"""The dwelling case: everything that happens at one address (rules 1, 2, 4-8).

State is the set of events at the dwelling plus the facts its organisations sent; the
view is a pure function of that state and the clock. Folding is a set union, so the
same event twice changes nothing and arrival order does not matter (rule 8).

Rules: docs/correlation.md#rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property, lru_cache, partial, singledispatch
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
from correlator.domain.memo import memo, memo_at
from correlator.domain.rules import LEGAL_BASIS, STALL_AFTER_MS, competent_agencies
from ketenbus.vocabulary import AddressRecord, CaseStatus, ViolationCode

UNADMITTED: ViolationCode = "UNADMITTED_LENDING"


@lru_cache(maxsize=65_536)  # the same event times are rendered again for every view
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
    return add_events(case, forwarded.events)


def add_events(case: DwellingCase, events: Iterable[SourceEvent]) -> DwellingCase:
    """Fold many events at once: the same set union as applying each, in one step."""
    new = {e.event_id: e for e in events if e.event_id not in case.events}
    return replace(case, events={**case.events, **new}) if new else case


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
    codes: frozenset[ViolationCode]
    establishes: bool
    is_step: bool = False
    closes: bool = False


def _item(event: SourceEvent) -> _Item:
    """An event's place on a timeline: the same in every case state that holds it."""
    return memo(
        event,
        "_item",
        lambda: _Item(
            at=event.occurred_at,
            order=event.event_id,
            label=event.label,
            agency=event.agency,
            codes=frozenset(event.violations),
            establishes=event.establishes,
            is_step=event.is_step,
            closes=event.is_clean_follow_up,
        ),
    )


def _timeline(case: DwellingCase) -> list[_Item]:
    items = [_item(event) for event in case.events.values()]
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
    return memo(case, "_revocations", lambda: _find_revocations(case))


def _find_revocations(case: DwellingCase) -> list[EventLink]:
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


def corroborated(
    codes: set[ViolationCode], established: set[ViolationCode], agencies: set[str]
) -> bool:
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


@dataclass
class _Walk:
    """The dwelling's timeline walked in event time: what it holds and its status so far."""

    codes: set[ViolationCode] = field(default_factory=set)
    established: set[ViolationCode] = field(default_factory=set)
    agencies: set[str] = field(default_factory=set)
    sources: dict[ViolationCode, list[str]] = field(default_factory=dict)
    status: CaseStatus = "signal"
    reason: str = "rule 1: not (yet) corroborated: a signal"
    opened_at: int | None = None
    closed_at: int | None = None
    ever_open: bool = False
    steps: list[int] = field(default_factory=list)

    def step(self, item: _Item) -> None:
        """Take one dated fact into account (rules 1 and 7)."""
        self.agencies.add(item.agency)
        if item.closes:
            self.status, self.closed_at = "closed", item.at
            self.reason = f"rule 7: closed by follow-up inspection {item.label} without findings"
            return
        if (
            self.status == "closed"
            and item.codes
            and self.closed_at is not None
            and item.at > self.closed_at
        ):
            self.status = "signal"
            self.reason = f"rule 7: reopened by {item.label} after the closing inspection"
        self.codes |= item.codes
        if item.establishes:
            self.established |= item.codes
        for code in item.codes:
            self.sources.setdefault(code, []).append(item.label)
        if item.is_step:
            self.steps.append(item.at)
        if self.status == "signal" and corroborated(self.codes, self.established, self.agencies):
            self.status, self.opened_at, self.ever_open = "open", item.at, True
            basis = "an established code" if self.established else ">= 2 agencies"
            self.reason = f"rule 1: opened by {item.label}: {len(self.codes)} codes and {basis}"

    @property
    def last_step(self) -> int | None:
        """Rule 6: the latest of the opening, a sanction or a case_action."""
        return max([self.opened_at, *self.steps]) if self.opened_at is not None else None

    def stall(self, now: int) -> None:
        """Rule 6: an open case without a step for more than 30 days (event time) stalls."""
        last_step = self.last_step
        if self.status == "open" and last_step is not None and now - last_step > STALL_AFTER_MS:
            self.status = "stalled"
            self.reason = f"rule 6: stalled: no step for more than 30 days since {iso(last_step)}"


def _walk(case: DwellingCase, clock: int) -> _Walk:
    walk = _Walk()
    for item in case.timeline:
        walk.step(item)
    walk.stall(now=max([clock, *(e.occurred_at for e in case.events.values())]))
    return walk


def _parties(agencies: set[str], codes: set[ViolationCode], gemeente: str | None) -> set[str]:
    """Rule 4: contributors, the agencies competent for a code, the address's gemeente."""
    return agencies | competent_agencies(codes, gemeente) | ({gemeente} if gemeente else set())


def _recidive_ids(case: DwellingCase) -> set[str]:
    """Rule 5: sanctions at this dwelling its organisations found to be recidive."""
    return set().union(*(f.recidive_sanctions for f in case.org_facts.values()))


def view(case: DwellingCase, clock: int) -> CaseView:
    """The dwelling case as it stands at event time `clock` (rules 1, 2, 4-7)."""
    return memo_at(case, "_view", clock, lambda: _view(case, clock))


def _view(case: DwellingCase, clock: int) -> CaseView:
    walk = _walk(case, clock)
    gemeente = gemeente_of(case)
    recidive_ids = _recidive_ids(case)
    revocations = _revocations(case)
    event_labels = sorted({e.label for e in case.events.values()} | {r.label for r in revocations})
    refused = any(e.access_refused for e in case.events.values())
    return CaseView(
        case_id=case.case_id,
        kind="dwelling",
        key=case.key,
        status=walk.status,
        violations=tuple(sorted(walk.codes)),
        established=tuple(sorted(walk.established)),
        agencies=tuple(sorted(walk.agencies)),
        notified=tuple(sorted(_parties(walk.agencies, walk.codes, gemeente)))
        if walk.ever_open
        else (),
        lead_agency=gemeente,
        address=_best_address(case),
        organisations=tuple(sorted(case.organisations)),
        events=tuple(event_labels),
        recidive=any(event_id in case.events for event_id in recidive_ids),
        opened_at=walk.opened_at,
        last_step_at=walk.last_step,
        indicators=("ACCESS_REFUSED",) if refused else (),
        explanation=_explain(case, walk, revocations, recidive_ids),
    )


def _best_address(case: DwellingCase) -> AddressRecord | None:
    with_postcode = [e for e in case.events.values() if e.address and e.address.get("postcode")]
    pool = with_postcode or [e for e in case.events.values() if e.address]
    if not pool:
        return None
    first = min(pool, key=lambda e: (e.occurred_at, e.event_id))
    return first.address


def _explain(
    case: DwellingCase, walk: _Walk, revocations: list[EventLink], recidive_ids: set[str]
) -> dict[str, Any]:
    """Why the case stands as it does: its status rule, its links and its codes' sources."""
    return {
        "status_rule": walk.reason,
        "links": _links(case, revocations),
        "violations": [
            {
                "code": code,
                "legal_basis": LEGAL_BASIS.get(code, "?"),
                "established": code in walk.established,
                "sources": sorted(set(walk.sources.get(code, []))),
            }
            for code in sorted(walk.codes)
        ],
        "recidive_sanctions": sorted(
            case.events[i].label for i in recidive_ids if i in case.events
        ),
    }


def _link(e: SourceEvent, key: str) -> dict[str, Any]:
    """How one event came to belong to dwelling `key` (kept on the event; read-only)."""
    return {
        "event": e.label,
        "type": e.type,
        "occurred_at": iso(e.occurred_at),
        "via": f"bag_id {e.address['bag_id']}"
        if e.dwelling != key and e.address
        else f"address {key}",
    }


def _links(case: DwellingCase, revocations: list[EventLink]) -> list[dict[str, Any]]:
    """How each event (and each revocation, rule 2) came to belong to this dwelling."""
    return [
        memo_at(e, "_link", case.key, partial(_link, e, case.key))
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


def summary(case: DwellingCase) -> DwellingSummary:
    """What the dwelling's organisations need to know of it (rule 3)."""
    return memo(case, "_summary", lambda: _summary(case))


def _summary(case: DwellingCase) -> DwellingSummary:
    established_at = [item.at for item in case.timeline if item.establishes and item.codes]
    established = set().union(*(i.codes for i in case.timeline if i.establishes))
    return DwellingSummary(
        key=case.key,
        established=frozenset(established),
        established_since=min(established_at, default=None),
        gemeente=gemeente_of(case),
    )
