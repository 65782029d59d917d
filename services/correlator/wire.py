"""How the correlator's values travel: internal JSON envelopes and the Avro case outputs.

Rule: docs/correlation.md#rule-4.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson

from correlator.domain.case import CaseChange, CaseView, Notification
from correlator.domain.events import (
    BagAlias,
    ClockTick,
    DwellingSummary,
    Forwarded,
    OrganisationFacts,
    SourceEvent,
)
from correlator.domain.memo import memo
from correlator.errors import CorrelatorError
from ketenbus.contracts.codec import Codec

CASE_EVENT_SCHEMA = "nl.ketenbus.cases.CaseEvent"
NOTIFICATION_SCHEMA = "nl.ketenbus.cases.Notification"

_KINDS: dict[str, type[Any]] = {
    "event": SourceEvent,
    "facts": OrganisationFacts,
    "summary": DwellingSummary,
    "alias": BagAlias,
    "forwarded": Forwarded,
}


class BadEnvelope(CorrelatorError, ValueError):
    """An internal message that is not a correlator envelope."""


def envelope(message: Any) -> bytes:
    """Serialise a message for an inbox topic (compact UTF-8 JSON, by orjson: every source
    event crosses ~2.5 inbox messages, each encoded once and decoded once)."""
    if isinstance(message, ClockTick):
        return orjson.dumps({"kind": "tick", "now": message.now})
    for kind, cls in _KINDS.items():
        if isinstance(message, cls):
            return orjson.dumps({"kind": kind, "data": message.to_json()})
    raise BadEnvelope(f"cannot serialise {type(message).__name__}")


def open_envelope(raw: bytes | dict[str, Any]) -> Any:
    """The message inside an inbox envelope (a ClockTick for ticks)."""
    try:
        data = orjson.loads(raw) if isinstance(raw, bytes | str) else raw
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
        "events": _refs(view),
        "recidive": view.recidive,
        "clock": clock,
        "opened_at": view.opened_at,
        "last_step_at": view.last_step_at,
        "explanation_json": view.explanation_json(indicators=list(view.indicators)),
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
        "events": _refs(view),
        "recidive": view.recidive,
        "issued_at": clock,
    }


#: The Notification fields that differ between the recipients of one case change.
_PER_RECIPIENT = ("notification_id", "case_event_id", "recipient")


def encoded_notifications(
    change: CaseChange, clock: int, codec: Codec
) -> list[tuple[Notification, bytes]]:
    """Every notification of `change`, Avro-encoded: the same bytes as encoding each
    `notification_record`, but the part all recipients share is encoded once (a change
    notifies ~5 parties on average; encoding was the agents' largest cost)."""
    notes = change.notifications
    if not notes:
        return []
    first = notes[0]
    if any(n.view is not first.view or n.changes != first.changes for n in notes):
        return [  # not one change's notifications after all: each on its own
            (n, codec.encode(NOTIFICATION_SCHEMA, notification_record(n, clock), trusted=True))
            for n in notes
        ]
    record = notification_record(first, clock)
    shared = {k: v for k, v in record.items() if k not in _PER_RECIPIENT}
    encode = codec.fan_out(NOTIFICATION_SCHEMA, _PER_RECIPIENT, shared)
    return [
        (note, encode((note.notification_id, note.view.case_event_id, note.recipient)))
        for note in notes
    ]


def _refs(view: CaseView) -> list[dict[str, str]]:
    """The view's events as agency + ref; made once per view (its case event and every
    notification carry them). Read-only."""
    return memo(view, "_refs", lambda: [_ref(label) for label in view.events])


@lru_cache(maxsize=1 << 16)  # the same events are in every later state of their case
def _ref(label: str) -> dict[str, str]:
    agency, _, ref = label.partition("/")
    return {"agency": agency, "ref": ref}
