"""From received bytes to a ready-to-produce Kafka record (pure: no I/O).

validate (models) -> route to the owning adapter (registry) -> agency's own refusals
(base.authorise) -> canonical event (events) -> Avro + key + CloudEvents headers. HTTP and
file import both go through `Intake.prepare`, so they accept and refuse the same records.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from intake.base import AgencyAdapter, IntakeItem
from intake.errors import (
    AgencyMismatch,
    AgencyNotAuthorised,
    AgencyNotServed,
    EventNotEncodable,
    InvalidRecord,
    MalformedRecord,
    OccurredAtOutOfRange,
    RecordRejected,
    RecordTooLarge,
)
from intake.events import EventType, to_event
from intake.fingerprints import KEY_PURPOSE as FINGERPRINT_KEY_PURPOSE
from intake.fingerprints import content_fingerprint
from intake.limits import check_shape
from intake.models import (
    RECORD_TYPES,
    REF_PATTERN,
    AnyRecord,
    FieldError,
    bsn_in_ref,
    format_errors,
    parse_record,
)
from intake.registry import AdapterRegistry
from ketenbus import normalise
from ketenbus.agencies import InvalidAgency, validate_agency
from ketenbus.contracts.codec import Codec, CodecError, get_codec
from ketenbus.producer import OutgoingRecord
from ketenbus.pseudonyms import Pseudonymiser
from ketenbus.settings import Settings

CE_SPECVERSION = "1.0"
CONTENT_TYPE = "application/avro"
_REF = re.compile(REF_PATTERN)


@dataclass(frozen=True)
class PreparedEvent:
    """A validated record, its event and the Kafka record carrying it."""

    record: AnyRecord
    adapter: AgencyAdapter
    event_type: EventType
    event_id: str
    outgoing: OutgoingRecord
    #: keyed hash of the event's content, to tell a re-send from a conflicting one
    fingerprint: str


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class IntakeBounds:
    """What the intake accepts at all (settings: KETENBUS_INTAKE_*, KETENBUS_CLOCK_SKEW_*)."""

    max_record_bytes: int = 64 * 1024
    clock_skew: timedelta = timedelta(minutes=5)
    earliest: datetime = datetime(2000, 1, 1, tzinfo=UTC)

    @classmethod
    def from_settings(cls, settings: Settings) -> IntakeBounds:
        return cls(
            max_record_bytes=settings.intake_max_record_bytes,
            clock_skew=timedelta(seconds=settings.clock_skew_seconds),
            earliest=normalise.to_utc(settings.intake_earliest_occurred_at),
        )


def _parsed(payload: bytes) -> dict[str, Any] | None:
    try:
        data = check_shape(payload)
    except RecordRejected:
        return None
    return data if isinstance(data, dict) else None


def guess_ref(payload: bytes) -> str | None:
    """The `ref` of a refused record if it is itself a valid ref holding no BSN (for the
    audit log), else None."""
    data = _parsed(payload)
    ref = data.get("ref") if data else None
    if isinstance(ref, str) and _REF.match(ref) and not bsn_in_ref(ref):
        return ref
    return None


def guess_labels(payload: bytes) -> tuple[str | None, str | None]:
    """Agency and type of a record that failed validation, if they are themselves valid
    (used for metrics labels and dead-letter headers, so untrusted text never becomes a
    label)."""
    data = _parsed(payload)
    if data is None:
        return None, None
    agency: str | None = None
    if isinstance(data.get("agency"), str):
        try:
            agency = validate_agency(data["agency"])
        except InvalidAgency:
            agency = None
    kind = data.get("type") if data.get("type") in RECORD_TYPES else None
    return agency, kind


class Intake:
    """Validates, routes and maps intake records for the adapters of one process."""

    def __init__(
        self,
        registry: AdapterRegistry,
        pseudonymiser: Pseudonymiser,
        *,
        codec: Codec | None = None,
        clock: Callable[[], datetime] = _utc_now,
        bounds: IntakeBounds | None = None,
    ) -> None:
        self.registry = registry
        self.pseudonymiser = pseudonymiser
        self.codec = codec or get_codec()
        self.clock = clock
        self.bounds = bounds or IntakeBounds()
        self.fingerprint_key = pseudonymiser.derived_key(FINGERPRINT_KEY_PURPOSE)
        # per schema / per agency, computed once
        self._dataschemas: dict[str, str] = {}
        self._sources: dict[tuple[str, str], str] = {}

    def validate(self, payload: bytes, field_names: Mapping[str, str] | None = None) -> AnyRecord:
        if len(payload) > self.bounds.max_record_bytes:
            raise RecordTooLarge(f"a record may hold at most {self.bounds.max_record_bytes} bytes")
        check_shape(payload)
        try:
            return parse_record(payload)
        except ValidationError as exc:
            errors = format_errors(exc, field_names)
            agency, kind = guess_labels(payload)
            malformed = any(e["type"] == "json_invalid" for e in exc.errors(include_input=False))
            cls = MalformedRecord if malformed else InvalidRecord
            summary = "; ".join(str(e) for e in errors)
            raise cls(summary, errors=errors, agency=agency, type=kind) from None

    def check_time(self, record: AnyRecord, now: datetime) -> None:
        """Refuse an `occurred_at` beyond the allowed skew ahead of `now`, or too early."""
        rule = None
        if record.occurred_at > now + self.bounds.clock_skew:
            rule = (
                "lies in the future (more than"
                f" {int(self.bounds.clock_skew.total_seconds())} s ahead of the intake's clock)"
            )
        elif record.occurred_at < self.bounds.earliest:
            rule = f"lies before the earliest accepted date {_iso(self.bounds.earliest)}"
        if rule is not None:
            raise OccurredAtOutOfRange(
                f"occurred_at: {rule}",
                errors=[FieldError("occurred_at", rule, "occurred_at")],
                agency=record.agency,
                type=record.type,
            )

    def prepare(
        self,
        item: IntakeItem,
        *,
        expected_agency: str | None = None,
        allowed_agencies: Collection[str] | None = None,
    ) -> PreparedEvent:
        """The Kafka record for `item`, or a `RecordRejected` saying why not.

        `allowed_agencies`: the agencies the authenticated caller may publish for (None: a
        trusted local caller, e.g. `ketenbus publish` with the agency's own credentials).
        """
        if item.error is not None:
            raise item.error
        record = self.validate(item.payload, item.field_names)
        if allowed_agencies is not None and record.agency not in allowed_agencies:
            raise AgencyNotAuthorised(
                f"this client may not publish for agency {record.agency}",
                agency=record.agency,
                type=record.type,
            )
        adapter = self.registry.adapter_for(record.agency)
        if adapter is None:
            raise AgencyNotServed(
                f"agency {record.agency} is not served here"
                f" (this service serves: {', '.join(a.service for a in self.registry.adapters)})",
                agency=record.agency,
                type=record.type,
            )
        if expected_agency is not None and record.agency != expected_agency:
            raise AgencyMismatch(
                f"record of agency {record.agency} sent to the endpoint of {expected_agency}",
                agency=record.agency,
                type=record.type,
            )
        now = self.clock()
        self.check_time(record, now)
        record = adapter.complete(record)
        adapter.authorise(record)
        kind, event = to_event(record, recorded_at=now, pseudonymiser=self.pseudonymiser)
        try:
            # trusted: the event is built by `to_event` from a record the strict models
            # validated and bounded field by field (types, ranges, code lists), so the
            # Avro validator would only check again what pydantic checked; it still runs
            # if the writer fails, to name the field
            value = self.codec.encode(kind.schema, event, trusted=True)
        except (CodecError, ValueError, TypeError, OverflowError):
            # the models bound every field to its Avro type; this is the safety net
            raise EventNotEncodable(
                "a value does not fit the event schema", agency=record.agency, type=record.type
            ) from None
        headers: list[tuple[str, bytes | str]] = [
            ("ce_id", event["event_id"]),
            ("ce_source", self._source(record.agency, adapter.service)),
            ("ce_type", kind.ce_type),
            ("ce_time", _iso(record.occurred_at)),
            ("ce_specversion", CE_SPECVERSION),
            ("ce_dataschema", self.dataschema(kind.schema)),
            ("content-type", CONTENT_TYPE),
        ]
        outgoing = OutgoingRecord(
            topic=record.agency.source_topic, value=value, key=record.key, headers=headers
        )
        fingerprint = content_fingerprint(self.fingerprint_key, event)
        return PreparedEvent(record, adapter, kind, event["event_id"], outgoing, fingerprint)

    def dataschema(self, schema: str) -> str:
        """`urn:avro:<full name>:<CRC-64-AVRO fingerprint>` of the writer schema."""
        found = self._dataschemas.get(schema)
        if found is None:
            found = f"urn:avro:{schema}:{self.codec.fingerprint_of(schema).hex()}"
            self._dataschemas[schema] = found
        return found

    def _source(self, agency: str, service: str) -> str:
        """The CloudEvents `source` of an agency's events (its OIN and our system)."""
        found = self._sources.get((agency, service))
        if found is None:
            found = f"urn:nld:oin:{self.registry.oin(agency)}:systeem:ketenbus-{service}"
            self._sources[(agency, service)] = found
        return found
