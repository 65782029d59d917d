"""The domain's closed sets as types: the Avro enums of `schemas/` as `Literal`s.

The `.avsc` files are the single source of truth for every value that crosses a service
boundary; these `Literal`s let mypy check the code that handles those values. They are
written out (a type checker cannot read a schema file), and tests/unit/test_vocabulary.py
compares every one with its schema symbol for symbol, so the two cannot drift apart.

Rules: docs/correlation.md#rules.
"""

from __future__ import annotations

from typing import Final, Literal, TypedDict, TypeGuard, get_args

#: nl.ketenbus.ViolationCode: what an agency can allege or establish
#: (docs/correlation.md#violation-codes).
ViolationCode = Literal[
    "OVERCROWDING",
    "UNLICENSED_ROOM_LETTING",
    "UNSAFE_DWELLING",
    "INTIMIDATION",
    "NO_WRITTEN_LEASE",
    "HOUSING_TIED_TO_JOB",
    "EXCESSIVE_RENT",
    "BRP_NOT_REGISTERED",
    "BRP_REGISTRATION_OBSTRUCTED",
    "UNDERPAYMENT",
    "ILLEGAL_EMPLOYMENT",
    "SERIOUS_DISADVANTAGE",
    "LABOUR_EXPLOITATION",
    "HUMAN_TRAFFICKING",
    "UNADMITTED_LENDING",
]
#: nl.ketenbus.SanctionType
SanctionType = Literal[
    "WARNING",
    "PENALTY_ORDER",
    "ADMINISTRATIVE_FINE",
    "CLOSURE_ORDER",
    "LICENCE_WITHDRAWN",
    "ADMISSION_REVOKED",
    "CRIMINAL_REPORT",
]
#: nl.ketenbus.AdmissionChange: NAU's decision on a staffing agency's admission.
AdmissionChange = Literal["GRANTED", "REVOKED", "SUSPENDED"]
#: nl.ketenbus.CaseActionType: an agency's step on a case it was notified of.
CaseActionType = Literal[
    "ACKNOWLEDGED",
    "INVESTIGATION_STARTED",
    "WARRANT_REQUESTED",
    "JOINT_INSPECTION_PLANNED",
    "REFERRED",
    "OTHER",
]
#: nl.ketenbus.cases.CaseKind
CaseKind = Literal["dwelling", "organisation"]
#: nl.ketenbus.cases.CaseStatus (docs/correlation.md: rules 1, 6 and 7)
CaseStatus = Literal["signal", "open", "stalled", "closed"]

#: Avro enum full name -> the Literal that mirrors it (checked by a unit test).
AVRO_ENUMS: Final[dict[str, object]] = {
    "nl.ketenbus.ViolationCode": ViolationCode,
    "nl.ketenbus.SanctionType": SanctionType,
    "nl.ketenbus.AdmissionChange": AdmissionChange,
    "nl.ketenbus.CaseActionType": CaseActionType,
    "nl.ketenbus.cases.CaseKind": CaseKind,
    "nl.ketenbus.cases.CaseStatus": CaseStatus,
}

VIOLATION_CODES: Final[frozenset[str]] = frozenset(get_args(ViolationCode))


def is_violation_code(value: str) -> TypeGuard[ViolationCode]:
    return value in VIOLATION_CODES


class AddressRecord(TypedDict):
    """nl.ketenbus.Address as decoded: a dwelling's normalised key and its parts."""

    key: str
    postcode: str | None
    house_number: int | None
    house_letter: str | None
    addition: str | None
    bag_id: str | None
    municipality_code: str | None


#: Avro record full name -> the TypedDict that mirrors its fields (checked by a unit test).
AVRO_RECORDS: Final[dict[str, type]] = {"nl.ketenbus.Address": AddressRecord}
