"""Why an intake record was refused: one class per cause, each declaring in its class line
the metrics/dead-letter `reason` code and the HTTP status the intake API answers with
(`intake.app.problem` turns them into the problem-details answer)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from intake.models import FieldError
from ketenbus.errors import KetenbusError


class AdapterError(KetenbusError):
    """Base of the adapter SDK's errors."""


class RecordRejected(AdapterError):
    """An intake record was refused; it is dead-lettered, never published.

    Each cause is a subclass that names its code and status in its class line:
    `class X(RecordRejected, reason="x", status=403)`; both are required there, so no
    cause can answer with the base's generic ones by omission.
    """

    reason: ClassVar[str] = "rejected"
    status: ClassVar[int] = 422

    def __init_subclass__(cls, *, reason: str, status: int) -> None:
        super().__init_subclass__()
        cls.reason = reason
        cls.status = status

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


class MalformedRecord(RecordRejected, reason="malformed", status=400):
    """The bytes are not one JSON object (or a file line cannot be read as a record)."""


class InvalidRecord(RecordRejected, reason="invalid_record", status=422):
    """The record breaks the intake contract (missing/unknown/invalid fields)."""


class AgencyNotServed(RecordRejected, reason="agency_not_served", status=403):
    """No adapter in this process owns the record's agency."""


class AgencyMismatch(RecordRejected, reason="agency_mismatch", status=403):
    """The record names another agency than the endpoint it was sent to."""


class TypeNotAllowed(RecordRejected, reason="type_not_allowed", status=403):
    """The agency may not publish this event type (e.g. only nau changes admissions)."""


class NotCompetent(RecordRejected, reason="not_competent", status=403):
    """The agency establishes or sanctions a violation it is not competent for."""


class OutsideMunicipality(RecordRejected, reason="outside_municipality", status=403):
    """A municipality's record concerns an address in another municipality."""


class RecordTooLarge(RecordRejected, reason="too_large", status=413):
    """The record (an HTTP body or a batch/file line) is larger than the intake reads;
    it was cut off while reading, so nothing of it is kept."""


class RecordTooComplex(RecordRejected, reason="too_complex", status=422):
    """The JSON nests deeper, or holds longer lists or more keys, than any intake record."""


class OccurredAtOutOfRange(RecordRejected, reason="occurred_at_out_of_range", status=422):
    """`occurred_at` lies in the future (beyond the allowed skew) or before the earliest
    plausible date."""


class EventNotEncodable(RecordRejected, reason="not_encodable", status=422):
    """A validated record does not fit the event schema (a value out of the Avro range)."""


class AgencyNotAuthorised(RecordRejected, reason="agency_not_authorised", status=403):
    """The authenticated client may not publish for the record's agency."""


class RefConflict(RecordRejected, reason="ref_conflict", status=409):
    """The agency's `ref` was published before with other content: refs are immutable."""


class UnreadableFile(AdapterError):
    """A whole import file cannot be read (missing, unknown format, bad CSV header)."""
