"""The public view of a case, what changed between two views, and who is told (rule 4).

Rules: docs/correlation.md#rule-4, docs/correlation.md#rule-6.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from correlator.domain.rules import STALL_AFTER_MS
from ketenbus.vocabulary import AddressRecord, CaseKind, CaseStatus, ViolationCode

#: Fields of a view that make up "the case": a change in any of them is a case change.
PUBLIC_FIELDS = (
    "status",
    "violations",
    "established",
    "agencies",
    "notified",
    "lead_agency",
    "organisations",
    "events",
    "recidive",
)


@dataclass(frozen=True)
class CaseView:
    """What a case is, derived from its aggregate: a pure function of its facts and the clock."""

    case_id: str
    kind: CaseKind
    key: str
    status: CaseStatus
    violations: tuple[ViolationCode, ...] = ()
    established: tuple[ViolationCode, ...] = ()
    agencies: tuple[str, ...] = ()
    notified: tuple[str, ...] = ()
    lead_agency: str | None = None
    address: AddressRecord | None = None
    organisations: tuple[str, ...] = ()
    events: tuple[str, ...] = ()  # "agency/ref": need-to-know references only
    recidive: bool = False
    opened_at: int | None = None
    last_step_at: int | None = None
    indicators: tuple[str, ...] = ()
    explanation: Mapping[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in PUBLIC_FIELDS}

    @cached_property  # a view never changes; its id is read once per notification
    def case_event_id(self) -> str:
        """Deterministic id of this state of the case: a replay yields the same id."""
        canonical = canonical_json(
            {"case_id": self.case_id, **self.public(), "explanation": self.explanation}
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]

    def explanation_json(self, **extra: Any) -> str:
        """`json.dumps({**explanation, **extra}, sort_keys=True)`: the case event's field."""
        return canonical_json({**self.explanation, **extra})


#: `json.dumps(value, sort_keys=True, default=list)` builds this encoder on every call.
_CANONICAL = json.JSONEncoder(sort_keys=True, default=list)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys (sets as lists): the form case ids are hashed from."""
    return _CANONICAL.encode(value)


def stall_due_at(view: CaseView | None) -> int | None:
    """When an open case becomes stalled if nothing happens (rule 6); None if it cannot.

    Only this can change a case without an event, so a clock tick need only revisit the
    cases whose time has come.
    """
    if view is None or view.status != "open" or view.last_step_at is None:
        return None
    return view.last_step_at + STALL_AFTER_MS


def _set_changes(name: str, before: tuple[str, ...], after: tuple[str, ...]) -> list[str]:
    added = [f"{name}:+{item}" for item in after if item not in before]
    removed = [f"{name}:-{item}" for item in before if item not in after]
    return added + removed


def changes_between(before: CaseView | None, after: CaseView) -> list[str]:
    """What changed, as short readable strings (`status:signal->open`, `violation:+X`)."""
    found: list[str] = []
    if before is None:  # a new case: its status changes from "new", everything is added
        found.append(f"status:new->{after.status}")
        before = CaseView(case_id=after.case_id, kind=after.kind, key=after.key, status="signal")
    elif before.status != after.status:
        found.append(f"status:{before.status}->{after.status}")
    found += _set_changes("violation", before.violations, after.violations)
    found += _set_changes("established", before.established, after.established)
    found += _set_changes("agency", before.agencies, after.agencies)
    found += _set_changes("event", before.events, after.events)
    found += _set_changes("organisation", before.organisations, after.organisations)
    found += _set_changes("notified", before.notified, after.notified)
    if before.recidive != after.recidive:
        found.append(f"recidive:{str(after.recidive).lower()}")
    if before.lead_agency != after.lead_agency:
        found.append(f"lead:{after.lead_agency}")
    if not found and before.explanation != after.explanation:
        found.append("explanation")
    return found


@dataclass(frozen=True)
class Notification:
    """One agency told about one case change (rule 4: the minimum it needs)."""

    notification_id: str
    recipient: str
    view: CaseView
    changes: tuple[str, ...]


@dataclass(frozen=True)
class CaseChange:
    """A case changed: the case-log event and the notifications it causes."""

    view: CaseView
    previous_status: CaseStatus | None
    changes: tuple[str, ...]
    notifications: tuple[Notification, ...]


def decide_change(before: CaseView | None, after: CaseView | None) -> CaseChange | None:
    """The case change from `before` to `after`, or None when nothing public changed.

    Every change goes to the case log; once the case is notifiable every party in
    `after.notified` receives one notification per change of the case itself.
    """
    if after is None:
        return None
    changes = changes_between(before, after)
    if not changes:
        return None
    event_id = after.case_event_id
    # A refined explanation (e.g. another established code at a dwelling of an
    # organisation case) is logged, but parties hear of changes to the case itself.
    # Parties told before hear of the change too: an early arrival may have opened the
    # case before earlier events (in event time) showed it never was; they learn that.
    parties = sorted({*after.notified, *(before.notified if before else ())})
    told = parties if changes != ["explanation"] else []
    notifications = tuple(
        Notification(
            notification_id=hashlib.sha256(f"{event_id}/{recipient}".encode()).hexdigest()[:32],
            recipient=recipient,
            view=after,
            changes=tuple(changes),
        )
        for recipient in told
    )
    return CaseChange(
        view=after,
        previous_status=before.status if before else None,
        changes=tuple(changes),
        notifications=notifications,
    )
