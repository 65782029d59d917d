"""One complete, valid example record per event schema: the contract shown by example.

Every optional field is set (so a round trip exercises every union branch) and people
appear only as keyed pseudonyms. Used by the codec's contract tests and the docs;
`examples()` returns fresh copies so callers may mutate them.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

#: Timestamps are timestamp-millis: whole milliseconds survive a round trip exactly.
OCCURRED = datetime(2026, 5, 2, 9, 30, 15, 123000, tzinfo=UTC)
RECORDED = datetime(2026, 5, 2, 9, 31, 0, 456000, tzinfo=UTC)

ADDRESS: dict[str, Any] = {
    "key": "3083AB-12-A",
    "postcode": "3083AB",
    "house_number": 12,
    "house_letter": "A",
    "addition": "BIS",
    "bag_id": "0599010000123456",
    "municipality_code": "0599",
}


def _source(agency: str, ref: str) -> dict[str, Any]:
    """The fields every agency event carries."""
    return {
        "event_id": f"example-{agency}-{ref}",
        "agency": agency,
        "ref": ref,
        "occurred_at": OCCURRED,
        "recorded_at": RECORDED,
        "address": dict(ADDRESS),
        "landlord_kvk": "12345678",
        "staffing_agency_kvk": "87654321",
        "employer_kvk": "11223344",
    }


_EXAMPLES: dict[str, dict[str, Any]] = {
    "nl.ketenbus.events.Complaint": {
        **_source("gemeente:0599", "MP-2026-0142"),
        "violations": ["OVERCROWDING", "INTIMIDATION"],
        "anonymous": True,
    },
    "nl.ketenbus.events.Inspection": {
        **_source("nla", "NLA-2026-0007"),
        "violations": ["UNDERPAYMENT", "HOUSING_TIED_TO_JOB"],
        "occupants_found": 14,
        "occupants_registered": 3,
        "access_refused": False,
        "follow_up": True,
        "worker_pseudonyms": ["pseudo:4f1c0a", "pseudo:9b22e7"],
    },
    "nl.ketenbus.events.Sanction": {
        **_source("gemeente:0599", "HANDH-2026-31"),
        "sanction_type": "ADMINISTRATIVE_FINE",
        "violations": ["OVERCROWDING"],
        "target_kvk": "12345678",
        "amount_eur": 20750.5,
    },
    "nl.ketenbus.events.AdmissionChanged": {
        **_source("nau", "NAU-T-0815"),
        "change": "REVOKED",
        "reason": "unadmitted lending; BRP registration obstructed",
    },
    "nl.ketenbus.events.CaseAction": {
        **_source("politie", "PL-2026-552"),
        "action": "WARRANT_REQUESTED",
        "target_kvk": "12345678",
    },
    "nl.ketenbus.cases.CaseEvent": {
        "case_event_id": "ce-0001",
        "case_id": "dwelling:3083AB-12-A",
        "kind": "dwelling",
        "key": "3083AB-12-A",
        "status": "open",
        "previous_status": "signal",
        "changes": ["status:open", "violation:+UNDERPAYMENT", "event:+nla/NLA-2026-0007"],
        "violations": ["OVERCROWDING", "UNDERPAYMENT"],
        "established": ["UNDERPAYMENT"],
        "agencies": ["gemeente:0599", "nla"],
        "notified": ["gemeente:0599", "nla", "politie"],
        "lead_agency": "gemeente:0599",
        "address": dict(ADDRESS),
        "organisations": ["12345678", "87654321"],
        "events": [
            {"agency": "gemeente:0599", "ref": "MP-2026-0142"},
            {"agency": "nla", "ref": "NLA-2026-0007"},
        ],
        "recidive": True,
        "clock": RECORDED,
        "opened_at": OCCURRED,
        "last_step_at": RECORDED,
        "explanation_json": '{"rule": 1}',
    },
    "nl.ketenbus.cases.Notification": {
        "notification_id": "ce-0001/politie",
        "case_event_id": "ce-0001",
        "recipient": "politie",
        "case_id": "dwelling:3083AB-12-A",
        "kind": "dwelling",
        "status": "stalled",
        "changes": ["status:stalled"],
        "address": dict(ADDRESS),
        "organisations": ["12345678"],
        "violations": ["INTIMIDATION"],
        "agencies": ["gemeente:0599", "politie"],
        "lead_agency": "gemeente:0599",
        "events": [{"agency": "politie", "ref": "PL-2026-552"}],
        "recidive": False,
        "issued_at": RECORDED,
    },
}

#: The schemas that travel as events on a topic (Address and EventRef are parts of them).
EVENT_SCHEMAS: tuple[str, ...] = tuple(_EXAMPLES)


def examples() -> dict[str, dict[str, Any]]:
    """A fresh deep copy of every example, by schema full name."""
    return copy.deepcopy(_EXAMPLES)


def example(schema: str) -> dict[str, Any]:
    """A fresh deep copy of the example record of one schema."""
    return copy.deepcopy(_EXAMPLES[schema])
