"""Why an intake record was refused: one class per cause, each with a metrics/dead-letter
`reason` code and the HTTP status the intake API answers with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from intake.models import FieldError
from ketenbus.errors import KetenbusError


class AdapterError(KetenbusError):
    """Base of the adapter SDK's errors."""


class RecordRejected(AdapterError):
    """An intake record was refused; it is dead-lettered, never published."""

    reason: ClassVar[str] = "rejected"
    status: ClassVar[int] = 422

    def __init__(
        self,
        message: str,
        *,
        errors: Sequence[FieldError] = (),
        agency: str | None = None,
        type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = list(errors) or [FieldError("(record)", message)]
        self.agency = agency
        self.type = type


class MalformedRecord(RecordRejected):
    """The bytes are not one JSON object (or a file line cannot be read as a record)."""

    reason = "malformed"
    status = 400


class InvalidRecord(RecordRejected):
    """The record breaks the intake contract (missing/unknown/invalid fields)."""

    reason = "invalid_record"
    status = 422


class AgencyNotServed(RecordRejected):
    """No adapter in this process owns the record's agency."""

    reason = "agency_not_served"
    status = 403


class AgencyMismatch(RecordRejected):
    """The record names another agency than the endpoint it was sent to."""

    reason = "agency_mismatch"
    status = 403


class TypeNotAllowed(RecordRejected):
    """The agency may not publish this event type (e.g. only nau changes admissions)."""

    reason = "type_not_allowed"
    status = 403


class NotCompetent(RecordRejected):
    """The agency establishes or sanctions a violation it is not competent for."""

    reason = "not_competent"
    status = 403


class OutsideMunicipality(RecordRejected):
    """A municipality's record concerns an address in another municipality."""

    reason = "outside_municipality"
    status = 403


class UnreadableFile(AdapterError):
    """A whole import file cannot be read (missing, unknown format, bad CSV header)."""
