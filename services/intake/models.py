"""Intake records (docs/integration.md#intake-format): strict pydantic models, normalising.

Field names are the contract: unknown fields are rejected, types are strict (a string is
not a number), timestamps need a zone. Validators normalise on the way in (postcode,
letters, KvK, UTC), so a validated record is already canonical. Every error is reported
per field (`format_errors`), never echoing a BSN.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from ketenbus import normalise
from ketenbus.agencies import AgencyCode
from ketenbus.settings import PROJECT_ROOT

_SCHEMAS = PROJECT_ROOT / "schemas"


def _symbols(name: str) -> dict[str, str]:
    """Enum symbols from the Avro schema, the single source of truth."""
    path: Path = _SCHEMAS / f"{name}.avsc"
    return {s: s for s in json.loads(path.read_text())["symbols"]}


ViolationCode = StrEnum("ViolationCode", _symbols("nl.ketenbus.ViolationCode"))  # type: ignore[misc]
SanctionType = StrEnum("SanctionType", _symbols("nl.ketenbus.SanctionType"))  # type: ignore[misc]
CaseActionType = StrEnum("CaseActionType", _symbols("nl.ketenbus.CaseActionType"))  # type: ignore[misc]

REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/:\-]{0,127}$"
#: Every 9-digit window of a ref, its digits at most one separator apart.
_NINE_DIGITS_IN_REF = re.compile(r"(?<![0-9])(?=([0-9](?:[._/:\-]?[0-9]){8})(?![0-9]))")
ADMISSION_TYPES = ("admission_revoked", "admission_granted", "admission_suspended")
#: Plausibility bounds (within the Avro `int`/`double` the events carry).
MAX_OCCUPANTS = 10_000
MAX_AMOUNT_EUR = 10_000_000.0
MAX_WORKERS = 1_000
MAX_VIOLATIONS = 32


class AdmissionReason(StrEnum):
    """Why NAU changed an admission: a fixed code list, never free text (free text is where
    names and BSNs end up, and `reason` is published)."""

    ADMISSION_REQUIREMENTS_NOT_MET = "ADMISSION_REQUIREMENTS_NOT_MET"
    SECURITY_DEPOSIT_NOT_PROVIDED = "SECURITY_DEPOSIT_NOT_PROVIDED"
    CONDUCT_CERTIFICATE_REFUSED = "CONDUCT_CERTIFICATE_REFUSED"
    LABOUR_LAW_VIOLATIONS = "LABOUR_LAW_VIOLATIONS"
    INSPECTION_OBSTRUCTED = "INSPECTION_OBSTRUCTED"
    AT_OWN_REQUEST = "AT_OWN_REQUEST"
    REQUIREMENTS_MET = "REQUIREMENTS_MET"
    REINSTATED_AFTER_REVIEW = "REINSTATED_AFTER_REVIEW"
    OTHER = "OTHER"


def bsn_in_ref(ref: str) -> bool:
    """Whether a ref holds a BSN: any 9-digit run, contiguous or dotted (`123.456.782`), or
    split by `-`, `/`, `_`, `:` and passing the elfproef (year-number refs like
    `2026-00001` mostly pass, a BSN written `123-456-782` does not)."""
    for found in _NINE_DIGITS_IN_REF.finditer(ref):
        window = found.group(1)
        digits = "".join(c for c in window if c.isdigit())
        if window == digits or window.replace(".", "") == digits:
            return True
        try:
            normalise.bsn(digits)
        except normalise.InvalidValue:
            continue
        return True
    return False


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Address(_Strict):
    """A dwelling: postcode + house number (+ letter, addition), and/or a BAG id."""

    postcode: str | None = None
    house_number: int | None = None
    house_letter: str | None = None
    addition: str | None = None
    bag_id: str | None = None
    municipality_code: str | None = None

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, v: str | None) -> str | None:
        return None if v is None else normalise.postcode(v)

    @field_validator("house_number")
    @classmethod
    def _house_number(cls, v: int | None) -> int | None:
        return None if v is None else normalise.house_number(v)

    @field_validator("house_letter")
    @classmethod
    def _house_letter(cls, v: str | None) -> str | None:
        return normalise.house_letter(v)

    @field_validator("addition")
    @classmethod
    def _addition(cls, v: str | None) -> str | None:
        return normalise.addition(v)

    @field_validator("bag_id")
    @classmethod
    def _bag_id(cls, v: str | None) -> str | None:
        return None if v is None else normalise.bag_id(v)

    @field_validator("municipality_code")
    @classmethod
    def _municipality(cls, v: str | None) -> str | None:
        return None if v is None else normalise.municipality_code(v)

    @model_validator(mode="after")
    def _identified(self) -> Address:
        has_postcode = self.postcode is not None or self.house_number is not None
        if has_postcode and (self.postcode is None or self.house_number is None):
            raise ValueError("an address needs both postcode and house_number (or only a bag_id)")
        if not has_postcode and self.bag_id is None:
            raise ValueError("an address needs postcode and house_number, or a bag_id")
        if not has_postcode and (self.house_letter or self.addition):
            raise ValueError("house_letter/addition need a postcode and house_number")
        return self

    @property
    def key(self) -> str:
        return normalise.address_key(
            self.postcode, self.house_number, self.house_letter, self.addition, self.bag_id
        )

    def to_avro(self) -> dict[str, Any]:
        # spelled out: model_dump costs more than the rest of the event mapping
        return {
            "key": self.key,
            "postcode": self.postcode,
            "house_number": self.house_number,
            "house_letter": self.house_letter,
            "addition": self.addition,
            "bag_id": self.bag_id,
            "municipality_code": self.municipality_code,
        }


class Worker(_Strict):
    """A worker met at an inspection: only the BSN, pseudonymised before publishing."""

    bsn: str

    @field_validator("bsn")
    @classmethod
    def _bsn(cls, v: str) -> str:
        return normalise.bsn(v)


def _kvk(v: str | None) -> str | None:
    return None if v is None else normalise.kvk(v)


class _Record(_Strict):
    """Fields every intake record has."""

    agency: AgencyCode  # parsed here, once: everything downstream trusts it
    ref: str = Field(pattern=REF_PATTERN, description="the agency's own record id")
    occurred_at: datetime = Field(description="ISO 8601 with a zone; stored in UTC")
    address: Address | None = None
    landlord_kvk: str | None = None
    staffing_agency_kvk: str | None = None
    employer_kvk: str | None = None

    @field_validator("ref")
    @classmethod
    def _no_bsn_in_ref(cls, v: str) -> str:
        if bsn_in_ref(v):
            raise ValueError("must not contain a 9-digit number (a BSN is never a reference)")
        return v

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return normalise.to_utc(v)

    @field_validator("landlord_kvk", "staffing_agency_kvk", "employer_kvk")
    @classmethod
    def _kvks(cls, v: str | None) -> str | None:
        return _kvk(v)

    @property
    def subject_kvks(self) -> list[str]:
        """Organisations named, in key-preference order (target first when there is one)."""
        target = getattr(self, "target_kvk", None)
        ordered = [target, self.staffing_agency_kvk, self.landlord_kvk, self.employer_kvk]
        return [k for k in ordered if k]

    @property
    def key(self) -> str:
        """The Kafka key: the dwelling key when there is an address, else the first KvK."""
        if self.address is not None:
            return self.address.key
        return self.subject_kvks[0]

    def _require_subject(self, what: str) -> None:
        if self.address is None and not self.subject_kvks:
            raise ValueError(f"a {self.type_name} needs {what}")

    @property
    def type_name(self) -> str:
        return str(getattr(self, "type"))  # noqa: B009  (set by every subclass)


def _dedupe(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


class ComplaintRecord(_Record):
    type: Literal["complaint"]
    violations: list[ViolationCode] = Field(
        default_factory=list, max_length=MAX_VIOLATIONS, description="alleged"
    )
    anonymous: bool = False

    _dedupe_violations = field_validator("violations")(_dedupe)

    @model_validator(mode="after")
    def _subject(self) -> ComplaintRecord:
        self._require_subject("an address or a KvK number (landlord/staffing_agency/employer)")
        return self


class InspectionRecord(_Record):
    type: Literal["inspection"]
    violations: list[ViolationCode] = Field(
        default_factory=list, max_length=MAX_VIOLATIONS, description="established"
    )
    occupants_found: int | None = Field(None, ge=0, le=MAX_OCCUPANTS)
    occupants_registered: int | None = Field(None, ge=0, le=MAX_OCCUPANTS)
    access_refused: bool = False
    follow_up: bool = False
    workers: list[Worker] = Field(
        default_factory=list, max_length=MAX_WORKERS, description="pseudonymised, never published"
    )

    _dedupe_violations = field_validator("violations")(_dedupe)

    @model_validator(mode="after")
    def _subject(self) -> InspectionRecord:
        self._require_subject("an address or a KvK number (landlord/staffing_agency/employer)")
        return self


class SanctionRecord(_Record):
    type: Literal["sanction"]
    sanction_type: SanctionType
    violations: list[ViolationCode] = Field(
        default_factory=list, max_length=MAX_VIOLATIONS, description="established"
    )
    target_kvk: str | None = None
    amount_eur: float | None = Field(None, ge=0, le=MAX_AMOUNT_EUR, allow_inf_nan=False)

    _dedupe_violations = field_validator("violations")(_dedupe)
    _target = field_validator("target_kvk")(_kvk)

    @model_validator(mode="after")
    def _subject(self) -> SanctionRecord:
        self._require_subject("a target_kvk or an address")
        return self


class AdmissionRecord(_Record):
    type: Literal["admission_revoked", "admission_granted", "admission_suspended"]
    staffing_agency_kvk: str  # required here (optional elsewhere)
    reason: AdmissionReason | None = Field(None, description="a code, never free text")


class CaseActionRecord(_Record):
    type: Literal["case_action"]
    action: CaseActionType
    target_kvk: str | None = None

    _target = field_validator("target_kvk")(_kvk)

    @model_validator(mode="after")
    def _subject(self) -> CaseActionRecord:
        if self.address is None and self.target_kvk is None:
            raise ValueError("a case_action needs the subject it acts on: address or target_kvk")
        return self


IntakeRecord = Annotated[
    ComplaintRecord | InspectionRecord | SanctionRecord | AdmissionRecord | CaseActionRecord,
    Field(discriminator="type"),
]
AnyRecord = ComplaintRecord | InspectionRecord | SanctionRecord | AdmissionRecord | CaseActionRecord
RECORD_TYPES = ("complaint", "inspection", "sanction", *ADMISSION_TYPES, "case_action")


@lru_cache(maxsize=1)
def record_adapter() -> TypeAdapter[AnyRecord]:
    return TypeAdapter(IntakeRecord)


@dataclass(frozen=True)
class FieldError:
    """One problem with one field (`address.postcode`, `workers[0].bsn`, or `type`).

    `field` is the name the sender knows (a CSV column after renaming); `path` the intake
    record's own path, used to blank the offending value in the dead letter.
    """

    field: str
    message: str
    path: str | None = None

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


_TAGS = frozenset(RECORD_TYPES)
#: Every field name the intake contract knows (any record type, any nesting level).
KNOWN_FIELDS: frozenset[str] = frozenset(
    name
    for model in (
        Address,
        Worker,
        ComplaintRecord,
        InspectionRecord,
        SanctionRecord,
        AdmissionRecord,
        CaseActionRecord,
    )
    for name in model.model_fields
)
UNKNOWN_FIELD = "(unknown field)"
_PLAIN_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")
_DIGIT_RUN = re.compile(r"[0-9]{5,}")


def safe_field_name(part: str) -> str:
    """A field name fit to repeat in messages: known, or a plain identifier with no long
    digit run; anything else (a BSN or a name used as a JSON key) is not repeated."""
    if part in KNOWN_FIELDS:
        return part
    if _PLAIN_NAME.match(part) and not _DIGIT_RUN.search(part):
        return part
    return UNKNOWN_FIELD


def _field_name(loc: tuple[int | str, ...]) -> str:
    parts = list(loc)
    if parts and parts[0] in _TAGS:  # the discriminated union puts the tag first
        parts = parts[1:]
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        elif part not in ("function-after", "function-before") and not str(part).startswith(
            ("function-", "literal[")
        ):
            text = safe_field_name(str(part))
            name += f".{text}" if name else text
    return name or "(record)"


def _rename(field: str, names: Mapping[str, str]) -> str:
    """`address.postcode` -> `postcode`, `violations[1]` -> `misstanden[1]`."""
    for intake_name in sorted(names, key=len, reverse=True):
        if field == intake_name or field.startswith((intake_name + ".", intake_name + "[")):
            return names[intake_name] + field[len(intake_name) :]
    return field


def format_errors(
    exc: ValidationError, field_names: Mapping[str, str] | None = None
) -> list[FieldError]:
    """Per-field messages; the input value is not repeated (it may be a BSN)."""
    found: list[FieldError] = []
    for err in exc.errors(include_url=False, include_input=False):
        message = str(err["msg"])
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        field = _field_name(tuple(err["loc"]))
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            field = "type"
            message = f"expected one of {', '.join(RECORD_TYPES)}"
        path = field
        if field_names:
            field = _rename(field, field_names)
        found.append(FieldError(field, message, path))
    return found


def parse_record(payload: bytes | str) -> AnyRecord:
    """Validate one intake record (JSON); raises pydantic's `ValidationError`."""
    return record_adapter().validate_json(payload)
