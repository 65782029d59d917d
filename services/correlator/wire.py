"""How the correlator's values travel: internal JSON envelopes and the Avro case outputs.

Rule: docs/correlation.md#rule-4.
"""

from __future__ import annotations

import json
from typing import Any

from correlator.domain.case import CaseChange, CaseView, Notification
from correlator.domain.events import (
    BagAlias,
    ClockTick,
    DwellingSummary,
    Forwarded,
    OrganisationFacts,
    SourceEvent,
)

CASE_EVENT_SCHEMA = "nl.ketenbus.cases.CaseEvent"
NOTIFICATION_SCHEMA = "nl.ketenbus.cases.Notification"

_KINDS: dict[str, type[Any]] = {
    "event": SourceEvent,
    "facts": OrganisationFacts,
    "summary": DwellingSummary,
    "alias": BagAlias,
    "forwarded": Forwarded,
}


class BadEnvelope(ValueError):
    """An internal message that is not a correlator envelope."""


def envelope(message: Any) -> bytes:
    """Serialise a message for an inbox topic."""
    if isinstance(message, ClockTick):
        return json.dumps({"kind": "tick", "now": message.now}).encode()
    for kind, cls in _KINDS.items():
        if isinstance(message, cls):
            return json.dumps({"kind": kind, "data": message.to_json()}).encode()
    raise BadEnvelope(f"cannot serialise {type(message).__name__}")


def open_envelope(raw: bytes | dict[str, Any]) -> Any:
    """The message inside an inbox envelope (a ClockTick for ticks)."""
    data = json.loads(raw) if isinstance(raw, bytes | str) else raw
    try:
        if data["kind"] == "tick":
            return ClockTick(int(data["now"]))
        return _KINDS[data["kind"]].from_json(data["data"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BadEnvelope(f"not a correlator envelope: {exc!r}") from exc


def _address(view: CaseView) -> dict[str, Any] | None:
    return dict(view.address) if view.address else None


def case_event_record(change: CaseChange, clock: int) -> dict[str, Any]:
    """The Avro CaseEvent record for a case change (schemas/nl.ketenbus.cases.CaseEvent)."""
    view = change.view
    return {
        "case_event_id": view.case_event_id,
        "case_id": view.case_id,
        "kind": view.kind,
        "key": view.key,
        "status": view.status,
        "previous_status": change.previous_status,
        "changes": list(change.changes),
        "violations": list(view.violations),
        "established": list(view.established),
        "agencies": list(view.agencies),
        "notified": list(view.notified),
        "lead_agency": view.lead_agency,
        "address": _address(view),
        "organisations": list(view.organisations),
        "events": [_ref(label) for label in view.events],
        "recidive": view.recidive,
        "clock": clock,
        "opened_at": view.opened_at,
        "last_step_at": view.last_step_at,
        "explanation_json": json.dumps(
            {**view.explanation, "indicators": list(view.indicators)}, sort_keys=True
        ),
    }


def notification_record(notification: Notification, clock: int) -> dict[str, Any]:
    """The Avro Notification record: rule 4's minimum, events as agency + ref only."""
    view = notification.view
    return {
        "notification_id": notification.notification_id,
        "case_event_id": view.case_event_id,
        "recipient": notification.recipient,
        "case_id": view.case_id,
        "kind": view.kind,
        "status": view.status,
        "changes": list(notification.changes),
        "address": _address(view),
        "organisations": list(view.organisations),
        "violations": list(view.violations),
        "agencies": list(view.agencies),
        "lead_agency": view.lead_agency,
        "events": [_ref(label) for label in view.events],
        "recidive": view.recidive,
        "issued_at": clock,
    }


def _ref(label: str) -> dict[str, str]:
    agency, _, ref = label.partition("/")
    return {"agency": agency, "ref": ref}
