"""The organisation profile (keyed by KvK): sanctions, admission, linked dwellings.

It decides recidivism (rule 5), tells its dwellings about a revoked admission (rule 2)
and becomes an organisation case when >= 2 linked dwellings hold an established
violation (rule 3).

Rules: docs/correlation.md#rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial, singledispatch
from typing import Any

from correlator.domain.case import CaseView
from correlator.domain.dwelling import iso
from correlator.domain.events import (
    BagAlias,
    DwellingSummary,
    EventLink,
    OrganisationFacts,
    SourceEvent,
)
from correlator.domain.memo import memo, memo_at
from correlator.domain.rules import (
    LEGAL_BASIS,
    RECIDIVE_MONTHS,
    STALL_AFTER_MS,
    competent_agencies,
)
from ketenbus.vocabulary import ViolationCode


@dataclass(frozen=True)
class OrganisationProfile:
    """Everything naming one organisation, and what its linked dwellings reported."""

    kvk: str
    events: Mapping[str, SourceEvent] = field(default_factory=dict)
    dwellings: Mapping[str, DwellingSummary] = field(default_factory=dict)
    #: The backbone clock this profile was last evaluated at (to see what a tick changes).
    clock: int = 0
    #: BAG keys of linked dwellings that turned out to be aliases of an address key.
    aliases: Mapping[str, str] = field(default_factory=dict)

    @property
    def case_id(self) -> str:
        return f"organisation:{self.kvk}"

    @property
    def linked_dwellings(self) -> frozenset[str]:
        return memo(self, "_linked", self._linked_dwellings)

    def _linked_dwellings(self) -> frozenset[str]:
        named = {e.dwelling for e in self.events.values() if e.dwelling}
        return frozenset(self.aliases.get(key, key) for key in named | set(self.dwellings))

    def to_json(self) -> dict[str, Any]:
        return {
            "kvk": self.kvk,
            "events": [e.to_json() for e in self.events.values()],
            "dwellings": [d.to_json() for d in self.dwellings.values()],
            "clock": self.clock,
            "aliases": dict(self.aliases),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OrganisationProfile:
        events = (SourceEvent.from_json(item) for item in data["events"])
        dwellings = (DwellingSummary.from_json(item) for item in data["dwellings"])
        return cls(
            kvk=data["kvk"],
            events={e.event_id: e for e in events},
            dwellings={d.key: d for d in dwellings},
            clock=data.get("clock", 0),
            aliases=dict(data.get("aliases", {})),
        )


@singledispatch
def apply(message: object, profile: OrganisationProfile) -> OrganisationProfile:
    """Fold one message into the profile (idempotent, commutative)."""
    raise TypeError(f"an organisation profile cannot apply {type(message).__name__}")


@apply.register
def _(event: SourceEvent, profile: OrganisationProfile) -> OrganisationProfile:
    if event.event_id in profile.events:
        return profile
    return replace(profile, events={**profile.events, event.event_id: event})


def add_events(profile: OrganisationProfile, events: Iterable[SourceEvent]) -> OrganisationProfile:
    """Fold many events at once: the same set union as applying each, in one step."""
    new = {e.event_id: e for e in events if e.event_id not in profile.events}
    return replace(profile, events={**profile.events, **new}) if new else profile


@apply.register
def _(summary: DwellingSummary, profile: OrganisationProfile) -> OrganisationProfile:
    known = profile.dwellings.get(summary.key)
    merged = known.merge(summary) if known else summary
    if merged == known:
        return profile
    return replace(profile, dwellings={**profile.dwellings, summary.key: merged})


@apply.register
def _(alias: BagAlias, profile: OrganisationProfile) -> OrganisationProfile:
    known = profile.aliases.get(alias.bag_key)
    if known is not None and known <= alias.address_key:
        return profile
    return replace(profile, aliases={**profile.aliases, alias.bag_key: alias.address_key})


def months_before(ms: int, months: int) -> int:
    """The same wall-clock instant `months` calendar months earlier (day clamped)."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    year, month = divmod(moment.month - 1 - months, 12)
    year, month = moment.year + year, month + 1
    day = moment.day
    while True:
        try:
            return int(moment.replace(year=year, month=month, day=day).timestamp() * 1000)
        except ValueError:
            day -= 1


def sanctions_against(profile: OrganisationProfile) -> list[SourceEvent]:
    return memo(profile, "_sanctions", lambda: _sanctions_against(profile))


def _sanctions_against(profile: OrganisationProfile) -> list[SourceEvent]:
    return sorted(
        (e for e in profile.events.values() if e.type == "sanction" and e.target == profile.kvk),
        key=lambda e: (e.occurred_at, e.event_id),
    )


def recidive_sanctions(profile: OrganisationProfile) -> frozenset[str]:
    """Rule 5: sanctions preceded by another against the same organisation within 24 months."""
    return memo(profile, "_recidive", lambda: _recidive_sanctions(profile))


def _recidive_sanctions(profile: OrganisationProfile) -> frozenset[str]:
    sanctions = sanctions_against(profile)
    return frozenset(
        s.event_id
        for s in sanctions
        if any(
            months_before(s.occurred_at, RECIDIVE_MONTHS) <= p.occurred_at < s.occurred_at
            for p in sanctions
        )
    )


def facts(profile: OrganisationProfile) -> OrganisationFacts:
    """What the profile's linked dwellings must know (rules 2 and 5)."""
    return memo(profile, "_facts", lambda: _facts(profile))


def _facts(profile: OrganisationProfile) -> OrganisationFacts:
    revocations = frozenset(
        EventLink(e.event_id, e.agency, e.ref, e.occurred_at, profile.kvk)
        for e in profile.events.values()
        if e.type == "admission" and e.admission_change == "REVOKED"
    )
    return OrganisationFacts(profile.kvk, revocations, recidive_sanctions(profile))


def _qualifying(profile: OrganisationProfile) -> list[DwellingSummary]:
    """Rule 3: linked dwellings holding an established violation, earliest first."""
    return sorted(
        (
            d
            for d in profile.dwellings.values()
            if d.established and d.established_since is not None and d.key not in profile.aliases
        ),
        key=lambda d: (d.established_since or 0, d.key),
    )


def _last_step(profile: OrganisationProfile, opened_at: int) -> int:
    """Rule 6: the latest of the opening, a sanction against it or a case_action on it."""
    steps = [e.occurred_at for e in sanctions_against(profile)] + [
        e.occurred_at
        for e in profile.events.values()
        if e.type == "case_action" and e.target == profile.kvk
    ]
    return max([opened_at, *steps])


def _established(
    profile: OrganisationProfile, qualifying: list[DwellingSummary], revoked: bool
) -> set[ViolationCode]:
    """Its dwellings' established codes, its sanctions' codes, and a revoked admission's."""
    established: set[ViolationCode] = set().union(*(d.established for d in qualifying))
    established |= {code for s in sanctions_against(profile) for code in s.violations}
    if revoked:
        established.add("UNADMITTED_LENDING")
    return established


def _parties(
    agencies: set[str], qualifying: list[DwellingSummary], established: set[ViolationCode]
) -> set[str]:
    """Rule 4: contributors, the gemeenten of its dwellings, every competent agency."""
    gemeenten = {d.gemeente for d in qualifying if d.gemeente}
    parties = set(agencies) | gemeenten
    parties |= competent_agencies(established, None)  # the national agencies
    for gemeente in gemeenten:
        parties |= competent_agencies(established, gemeente)
    return parties


def view(profile: OrganisationProfile, clock: int) -> CaseView | None:
    """The organisation case (rule 3), or None while fewer than 2 dwellings qualify."""
    return memo_at(profile, "_view", clock, lambda: _view(profile, clock))


def _view(profile: OrganisationProfile, clock: int) -> CaseView | None:
    qualifying = _qualifying(profile)
    if len(qualifying) < 2:
        return None
    opened_at = qualifying[1].established_since
    assert opened_at is not None
    own = profile.events.values()
    last_step = _last_step(profile, opened_at)
    now = max([clock, *(e.occurred_at for e in own)])
    stalled = now - last_step > STALL_AFTER_MS
    organisation_facts = facts(profile)
    established = _established(profile, qualifying, bool(organisation_facts.revocations))
    agencies = {e.agency for e in own}
    reason = (
        f"rule 6: stalled: no step for more than 30 days since {iso(last_step)}"
        if stalled
        else f"rule 3: {len(qualifying)} linked dwellings hold an established violation"
    )
    return CaseView(
        case_id=profile.case_id,
        kind="organisation",
        key=profile.kvk,
        status="stalled" if stalled else "open",
        violations=tuple(sorted(established)),
        established=tuple(sorted(established)),
        agencies=tuple(sorted(agencies)),
        notified=tuple(sorted(_parties(agencies, qualifying, established))),
        lead_agency=_lead(qualifying),
        address=None,
        organisations=(profile.kvk,),
        events=tuple(sorted({e.label for e in own})),
        recidive=bool(organisation_facts.recidive_sanctions),
        opened_at=opened_at,
        last_step_at=last_step,
        explanation=_explain(profile, qualifying, established, reason),
    )


def _explain(
    profile: OrganisationProfile,
    qualifying: list[DwellingSummary],
    established: set[ViolationCode],
    reason: str,
) -> dict[str, Any]:
    """Why the case stands as it does: its status rule, its events, dwellings and codes."""
    own = sorted(profile.events.values(), key=lambda e: (e.occurred_at, e.event_id))
    return {
        "status_rule": reason,
        "links": [
            memo_at(e, "_org_link", profile.kvk, partial(_link, e, profile.kvk)) for e in own
        ],
        "dwellings": [
            {
                "dwelling": d.key,
                "established": sorted(d.established),
                "since": iso(d.established_since),
                "gemeente": d.gemeente,
            }
            for d in qualifying
        ],
        "violations": [
            {"code": code, "legal_basis": LEGAL_BASIS.get(code, "?"), "established": True}
            for code in sorted(established)
        ],
        "recidive_sanctions": sorted(profile.events[i].label for i in recidive_sanctions(profile)),
    }


def _link(e: SourceEvent, kvk: str) -> dict[str, Any]:
    """How one event names organisation `kvk` (kept on the event; read-only)."""
    return {
        "event": e.label,
        "type": e.type,
        "occurred_at": iso(e.occurred_at),
        "via": f"kvk {kvk} ({', '.join(_roles(e, kvk))})",
    }


def _lead(qualifying: list[DwellingSummary]) -> str:
    """The gemeente with most of the organisation's dwellings; else the Labour Authority."""
    counts: dict[str, int] = {}
    for d in qualifying:
        if d.gemeente:
            counts[d.gemeente] = counts.get(d.gemeente, 0) + 1
    if not counts:
        return "nla"
    return min(counts, key=lambda g: (-counts[g], g))


def _roles(event: SourceEvent, kvk: str) -> list[str]:
    return [role for role, named in event.organisations if named == kvk]
