"""Intake record -> canonical Avro event (schemas/nl.ketenbus.events.*).

Pure: the caller supplies `recorded_at` and the pseudonymiser. `event_id` is a UUIDv5 of
`agency/ref` in a fixed project namespace, so a re-sent record is the same event.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from intake.models import (
    AdmissionRecord,
    AnyRecord,
    CaseActionRecord,
    ComplaintRecord,
    InspectionRecord,
    SanctionRecord,
)
from ketenbus.pseudonyms import Pseudonymiser

#: Fixed forever: changing it changes every event id (and breaks consumers' dedupe).
EVENT_ID_NAMESPACE: Final = uuid.UUID("5d0c5a4e-8f0b-5b8e-9a53-6b6574656e62")
CE_TYPE_PREFIX: Final = "nl.ketenbus."
CE_TYPE_VERSION: Final = "v1"


@dataclass(frozen=True)
class EventType:
    """An intake `type`, the Avro schema it becomes and its CloudEvents type."""

    name: str
    schema: str

    @property
    def ce_type(self) -> str:
        return f"{CE_TYPE_PREFIX}{self.name}.{CE_TYPE_VERSION}"


EVENT_TYPES: Final[dict[str, EventType]] = {
    t.name: t
    for t in (
        EventType("complaint", "nl.ketenbus.events.Complaint"),
        EventType("inspection", "nl.ketenbus.events.Inspection"),
        EventType("sanction", "nl.ketenbus.events.Sanction"),
        EventType("admission_revoked", "nl.ketenbus.events.AdmissionChanged"),
        EventType("admission_granted", "nl.ketenbus.events.AdmissionChanged"),
        EventType("admission_suspended", "nl.ketenbus.events.AdmissionChanged"),
        EventType("case_action", "nl.ketenbus.events.CaseAction"),
    )
}
_ADMISSION_CHANGE = {
    "admission_revoked": "REVOKED",
    "admission_granted": "GRANTED",
    "admission_suspended": "SUSPENDED",
}


_NAMESPACE_BYTES: Final = EVENT_ID_NAMESPACE.bytes


def event_id(agency: str, ref: str) -> str:
    """The deterministic event id of an agency's record: `uuid.uuid5(EVENT_ID_NAMESPACE,
    f"{agency}/{ref}")`, spelled out (RFC 4122 name-based, SHA-1) because building a
    `uuid.UUID` costs more than the hash itself (unit-tested against uuid5)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{agency}/{ref}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _common(record: AnyRecord, recorded_at: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id(record.agency, record.ref),
        "agency": record.agency,
        "ref": record.ref,
        "occurred_at": record.occurred_at,
        "recorded_at": recorded_at,
        "address": record.address.to_avro() if record.address else None,
        "landlord_kvk": record.landlord_kvk,
        "staffing_agency_kvk": record.staffing_agency_kvk,
        "employer_kvk": record.employer_kvk,
    }


def to_event(
    record: AnyRecord, *, recorded_at: datetime, pseudonymiser: Pseudonymiser
) -> tuple[EventType, dict[str, Any]]:
    """The event type and the Avro record of a validated intake record."""
    kind = EVENT_TYPES[record.type]
    event = _common(record, recorded_at)
    match record:
        case ComplaintRecord():
            event |= {
                "violations": [str(v) for v in record.violations],
                "anonymous": record.anonymous,
            }
        case InspectionRecord():
            event |= {
                "violations": [str(v) for v in record.violations],
                "occupants_found": record.occupants_found,
                "occupants_registered": record.occupants_registered,
                "access_refused": record.access_refused,
                "follow_up": record.follow_up,
                # the BSN stops here: only its keyed pseudonym travels
                "worker_pseudonyms": sorted({pseudonymiser.bsn(w.bsn) for w in record.workers}),
            }
        case SanctionRecord():
            event |= {
                "sanction_type": str(record.sanction_type),
                "violations": [str(v) for v in record.violations],
                "target_kvk": record.target_kvk,
                "amount_eur": record.amount_eur,
            }
        case AdmissionRecord():
            event |= {"change": _ADMISSION_CHANGE[record.type], "reason": record.reason}
        case CaseActionRecord():
            event |= {"action": str(record.action), "target_kvk": record.target_kvk}
    return kind, event
