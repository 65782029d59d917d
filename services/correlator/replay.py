"""The offline rebuild's fold: every source event at once -> every aggregate's final state.

Pure (no I/O). The live correlator handles one message at a time and decides a case
change after each; a rebuild only needs where that ends, and rule 8 says the end does
not depend on the order (or grouping) of the messages. So the fold runs the same
message protocol as the agents (`correlator.domain.handlers.route`, `fold_dwelling`,
`fold_organisation`: the same `apply`, summaries, facts, BAG merges) in rounds: each
round folds all messages pending for a key at once, and what that sends is pending for
the next round, until nothing is sent. The views, case changes and notifications are
then decided once per case, from its final state at the final clock.

`simulate` (one message at a time) is the reference: a property test checks that both
give the same views for any events (tests/unit/test_offline_replay.py).

Rules: docs/correlation.md#rules, docs/correlation.md#rebuild.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from correlator.domain import dwelling, organisation
from correlator.domain.case import CaseChange, CaseView, decide_change, stall_due_at
from correlator.domain.events import SourceEvent
from correlator.domain.handlers import (
    DWELLING,
    ORGANISATION,
    Message,
    Simulation,
    fold_dwelling,
    fold_organisation,
    route,
)
from correlator.topology import INBOXES, Inbox


@dataclass
class Folded:
    """Every aggregate's final state after all events, at the backbone clock `clock`."""

    dwellings: dict[str, dwelling.DwellingCase]
    organisations: dict[str, organisation.OrganisationProfile]
    clock: int
    #: how many rounds of messages between aggregates it took to settle
    rounds: int

    def views(self) -> dict[str, CaseView]:
        """Every case as it stands (the same reading as `Simulation.views`)."""
        return Simulation(self.dwellings, self.organisations, [], self.clock, {}).views()


def fold(events: Iterable[SourceEvent], clock: int) -> Folded:
    """Fold `events` (any order, duplicates allowed) into the final aggregates.

    `clock` is the backbone clock after all of them (rule 6): every aggregate is
    evaluated at it, as a live worker's are once the final clock tick has reached
    every partition.
    """
    pending: dict[Inbox, defaultdict[str, list[Message]]] = {
        inbox: defaultdict(list) for inbox in INBOXES
    }
    for event in events:
        for out in route(event):
            pending[out.inbox][out.key].append(out.message)
    dwellings: dict[str, dwelling.DwellingCase] = {}
    organisations: dict[str, organisation.OrganisationProfile] = {}
    rounds = 0
    while any(pending.values()):
        rounds += 1
        # Organisations first: their facts (rules 2 and 5) depend on their own events
        # only, so a dwelling takes them in the same round as its events and folds once
        # instead of twice.
        current, pending[ORGANISATION] = pending[ORGANISATION], defaultdict(list)
        for key, messages in current.items():
            handled_profile = fold_organisation(organisations.get(key), key, messages, clock)
            organisations[key] = handled_profile.aggregate
            for out in handled_profile.outgoing:
                pending[out.inbox][out.key].append(out.message)
        current, pending[DWELLING] = pending[DWELLING], defaultdict(list)
        for key, messages in current.items():
            handled_case = fold_dwelling(dwellings.get(key), key, messages, clock)
            dwellings[key] = handled_case.aggregate
            for out in handled_case.outgoing:
                pending[out.inbox][out.key].append(out.message)
    return Folded(dwellings, organisations, clock, rounds)


@dataclass(frozen=True)
class FinalRow:
    """One table row as a worker would have left it, and the case it stands for."""

    inbox: Inbox
    key: str
    aggregate: dwelling.DwellingCase | organisation.OrganisationProfile
    #: when its case stalls unless something happens (rule 6), as the agents store it
    stall_due: int | None
    #: the case's final state as one change from nothing (None: not a case)
    change: CaseChange | None
    #: a BAG-key case merged into its address: its case id (a tombstone on cases.events)
    removed: str | None = None


def final_rows(folded: Folded, part: int = 0, parts: int = 1) -> Iterator[FinalRow]:
    """Every aggregate's row, with its case (if it is one) decided from its final state;
    with `parts` > 1 only share `part` of them (every `parts`-th), so several processes
    can share the work.

    The change is `decide_change(None, view)`: `case_event_id` and the notification ids
    are the ones live operation gave that state (they hash the state, not its history);
    `changes` and `previous_status` describe it as new.
    """
    clock = folded.clock
    for index, (key, case) in enumerate(folded.dwellings.items()):
        if index % parts != part:
            continue
        if case.alias_of is not None:
            yield FinalRow(DWELLING, key, case, None, None, case.case_id if case.events else None)
        elif case.events:
            case_view = dwelling.view(case, clock)
            yield FinalRow(
                DWELLING, key, case, stall_due_at(case_view), decide_change(None, case_view)
            )
        else:  # facts for a dwelling nobody reported (yet): kept, not a case
            yield FinalRow(DWELLING, key, case, None, None)
    for index, (key, profile) in enumerate(folded.organisations.items()):
        if index % parts != part:
            continue
        org_view = organisation.view(profile, clock)
        change = decide_change(None, org_view) if org_view is not None else None
        yield FinalRow("organisation", key, profile, stall_due_at(org_view), change)
