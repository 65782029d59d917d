"""Message handlers: load -> pure function -> what to store and what to send.

Each handler takes an aggregate (or None), one message and the clock, and returns the new
aggregate, the case change it causes (if any) and the messages for other aggregates.
The Faust agents and the in-memory `simulate` both run exactly these functions.

Rules: docs/correlation.md#rules.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Final, Generic, TypeVar

from correlator.domain import dwelling, organisation
from correlator.domain.case import CaseChange, CaseView, decide_change, stall_due_at
from correlator.domain.events import (
    BagAlias,
    ClockTick,
    DwellingSummary,
    Forwarded,
    OrganisationFacts,
    SourceEvent,
)
from correlator.topology import Inbox

DWELLING: Final[Inbox] = "dwelling"
ORGANISATION: Final[Inbox] = "organisation"

#: What travels on the inboxes (a ClockTick only from the ingest stage to every partition).
Message = SourceEvent | OrganisationFacts | DwellingSummary | BagAlias | Forwarded | ClockTick
Aggregate = dwelling.DwellingCase | organisation.OrganisationProfile
A = TypeVar("A", dwelling.DwellingCase, organisation.OrganisationProfile)


@dataclass(frozen=True)
class Outgoing:
    """A message for another aggregate: inbox (dwelling/organisation), key, payload."""

    inbox: Inbox
    key: str
    message: Message


@dataclass(frozen=True)
class Handled(Generic[A]):
    """What one message did to one aggregate: its new state, the case change, the messages
    for other aggregates."""

    aggregate: A
    change: CaseChange | None
    outgoing: tuple[Outgoing, ...] = ()
    #: a case that no longer exists (a BAG key merged into its address): its case_id
    removed: str | None = None


def _at_clock(aggregate: A, clock: int) -> A:
    """The aggregate evaluated at `clock` (never earlier than it was): the same instance
    when the clock does not move it, so what was computed of it is kept."""
    if clock <= aggregate.clock:
        return aggregate
    moved = replace(aggregate, clock=clock)
    # Only its view depends on the clock: what else was computed of the same facts
    # (timeline, summary, organisation facts) holds for the moved aggregate too.
    own = {f.name for f in fields(aggregate)} | {"_view"}
    moved.__dict__.update((k, v) for k, v in aggregate.__dict__.items() if k not in own)
    return moved


def route(event: SourceEvent) -> list[Outgoing]:
    """Where an agency event goes: its dwelling, and every organisation it names."""
    targets = [Outgoing(DWELLING, event.dwelling, event)] if event.dwelling else []
    alias = event.bag_alias
    if alias is not None:
        targets.append(Outgoing(DWELLING, alias.bag_key, alias))
    targets += [Outgoing(ORGANISATION, kvk, event) for kvk in sorted(event.kvks)]
    return targets


def handle_dwelling(
    case: dwelling.DwellingCase | None, key: str, message: Message | None, clock: int
) -> Handled[dwelling.DwellingCase]:
    """Fold `message` (event, organisation facts or None for a clock tick) into the case."""
    before = case or dwelling.DwellingCase(key=key)
    after = _at_clock(before if message is None else dwelling.apply(message, before), clock)
    if after.alias_of is not None:
        return _merged_into_address(before, after)
    if not after.events:
        return Handled(after, None)  # facts for a dwelling we have not seen yet: keep them
    old_view = dwelling.view(before, before.clock) if before.events else None
    change = decide_change(old_view, dwelling.view(after, after.clock))
    return Handled(after, change, _summaries(before, after))


def _summaries(before: dwelling.DwellingCase, after: dwelling.DwellingCase) -> tuple[Outgoing, ...]:
    """The dwelling's summary for each of its organisations, when they need a new one."""
    new_summary = dwelling.summary(after)
    links_grew = after.organisations != before.organisations
    if links_grew or (before.events and new_summary != dwelling.summary(before)):
        return tuple(
            Outgoing(ORGANISATION, kvk, new_summary) for kvk in sorted(after.organisations)
        )
    return ()


def fold_dwelling(
    case: dwelling.DwellingCase | None, key: str, messages: Sequence[Message], clock: int
) -> Handled[dwelling.DwellingCase]:
    """Fold many messages at once and send what `handle_dwelling` would after the last of
    them, leaving the case change undecided (None): an offline replay decides it once,
    from each case's final state (docs/correlation.md#rebuild, rule 8)."""
    before = case or dwelling.DwellingCase(key=key)
    after = dwelling.add_events(before, (m for m in messages if isinstance(m, SourceEvent)))
    for message in messages:
        if not isinstance(message, SourceEvent):
            after = dwelling.apply(message, after)
    after = replace(after, clock=max(before.clock, clock))
    if after.alias_of is not None:
        return _merged_into_address(before, after)
    if not after.events:
        return Handled(after, None)
    return Handled(after, None, _summaries(before, after))


def _merged_into_address(
    before: dwelling.DwellingCase, after: dwelling.DwellingCase
) -> Handled[dwelling.DwellingCase]:
    """A BAG key whose address became known: its events go to the address's case, and
    its own case (if it had one) is removed from the case log."""
    target = after.alias_of
    assert target is not None
    moved_before = before.events if before.alias_of == target else {}
    moving = tuple(e for i, e in sorted(after.events.items()) if i not in moved_before)
    outgoing: list[Outgoing] = [Outgoing(DWELLING, target, Forwarded(moving))] if moving else []
    if before.alias_of != target:  # its organisations count the dwelling once, by address
        alias = BagAlias(bag_key=after.key, address_key=target)
        outgoing += [Outgoing(ORGANISATION, kvk, alias) for kvk in sorted(after.organisations)]
    removed = before.case_id if before.alias_of is None and before.events else None
    return Handled(after, None, tuple(outgoing), removed)


def handle_organisation(
    profile: organisation.OrganisationProfile | None, key: str, message: Message | None, clock: int
) -> Handled[organisation.OrganisationProfile]:
    """Fold `message` (event, dwelling summary or None for a clock tick) into the profile."""
    before = profile or organisation.OrganisationProfile(kvk=key)
    after = _at_clock(before if message is None else organisation.apply(message, before), clock)
    change = decide_change(
        organisation.view(before, before.clock), organisation.view(after, after.clock)
    )
    return Handled(after, change, _facts(before, after))


def _facts(
    before: organisation.OrganisationProfile, after: organisation.OrganisationProfile
) -> tuple[Outgoing, ...]:
    """The organisation's facts for its linked dwellings that need them (rules 2 and 5)."""
    new_facts = organisation.facts(after)
    if not (new_facts.revocations or new_facts.recidive_sanctions):
        return ()
    grown = after.linked_dwellings - before.linked_dwellings
    targets = after.linked_dwellings if new_facts != organisation.facts(before) else grown
    return tuple(Outgoing(DWELLING, key, new_facts) for key in sorted(targets))


def fold_organisation(
    profile: organisation.OrganisationProfile | None,
    key: str,
    messages: Sequence[Message],
    clock: int,
) -> Handled[organisation.OrganisationProfile]:
    """`fold_dwelling` for an organisation profile: many messages, no case change decided."""
    before = profile or organisation.OrganisationProfile(kvk=key)
    after = organisation.add_events(before, (m for m in messages if isinstance(m, SourceEvent)))
    for message in messages:
        if not isinstance(message, SourceEvent):
            after = organisation.apply(message, after)
    after = replace(after, clock=max(before.clock, clock))
    return Handled(after, None, _facts(before, after))


@dataclass
class Simulation:
    """The whole correlator in memory: the reference the Faust app must agree with."""

    dwellings: dict[str, dwelling.DwellingCase]
    organisations: dict[str, organisation.OrganisationProfile]
    changes: list[CaseChange]
    clock: int
    #: (inbox, key) -> when that case stalls unless something happens (as the app stores it)
    stall_due: dict[tuple[Inbox, str], int]

    def views(self) -> dict[str, CaseView]:
        found: dict[str, CaseView] = {}
        for case in self.dwellings.values():
            if case.events and case.alias_of is None:
                found[case.case_id] = dwelling.view(case, self.clock)
        for profile in self.organisations.values():
            org_view = organisation.view(profile, self.clock)
            if org_view is not None:
                found[org_view.case_id] = org_view
        return found

    def deliver(
        self, out: Outgoing
    ) -> Handled[dwelling.DwellingCase] | Handled[organisation.OrganisationProfile]:
        handled: Handled[dwelling.DwellingCase] | Handled[organisation.OrganisationProfile]
        # The ingest stage sends a clock tick as a message; here the clock is the field.
        message = None if isinstance(out.message, ClockTick) else out.message
        if out.inbox == DWELLING:
            handled = handle_dwelling(self.dwellings.get(out.key), out.key, message, self.clock)
            self.dwellings[out.key] = handled.aggregate
        else:
            handled = handle_organisation(
                self.organisations.get(out.key), out.key, message, self.clock
            )
            self.organisations[out.key] = handled.aggregate
        if handled.change is not None:
            self.changes.append(handled.change)
            due = stall_due_at(handled.change.view)
            if due is None:
                self.stall_due.pop((out.inbox, out.key), None)
            else:
                self.stall_due[(out.inbox, out.key)] = due
        return handled


def simulate(events: Iterable[SourceEvent]) -> Simulation:
    """Feed events one by one (with the clock advancing as they arrive) to a fixpoint."""
    sim = Simulation({}, {}, [], 0, {})
    for event in events:
        sim.clock = max(sim.clock, event.occurred_at)
        queue: deque[Outgoing] = deque(route(event))
        # A clock tick revisits the cases whose stall time has come, as the app does.
        queue.extend(
            Outgoing(inbox, key, ClockTick(sim.clock))
            for (inbox, key), due in sim.stall_due.items()
            if due < sim.clock
        )
        while queue:
            queue.extend(sim.deliver(queue.popleft()).outgoing)
    return sim
