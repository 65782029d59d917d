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


class RecordTooLarge(RecordRejected):
    """The record (an HTTP body or a batch/file line) is larger than the intake reads;
    it was cut off while reading, so nothing of it is kept."""

    reason = "too_large"
    status = 413


class RecordTooComplex(RecordRejected):
    """The JSON nests deeper, or holds longer lists or more keys, than any intake record."""

    reason = "too_complex"
    status = 422


class OccurredAtOutOfRange(RecordRejected):
    """`occurred_at` lies in the future (beyond the allowed skew) or before the earliest
    plausible date."""

    reason = "occurred_at_out_of_range"
    status = 422


class EventNotEncodable(RecordRejected):
    """A validated record does not fit the event schema (a value out of the Avro range)."""

    reason = "not_encodable"
    status = 422


class AgencyNotAuthorised(RecordRejected):
    """The authenticated client may not publish for the record's agency."""

    reason = "agency_not_authorised"
    status = 403


class RefConflict(RecordRejected):
    """The agency's `ref` was published before with other content: refs are immutable."""

    reason = "ref_conflict"
    status = 409


class UnreadableFile(AdapterError):
    """A whole import file cannot be read (missing, unknown format, bad CSV header)."""
