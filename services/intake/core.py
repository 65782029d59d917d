"""From received bytes to a ready-to-produce Kafka record (pure: no I/O).

validate (models) -> route to the owning adapter (registry) -> agency's own refusals
(base.authorise) -> canonical event (events) -> Avro + key + CloudEvents headers. HTTP and
file import both go through `Intake.prepare`, so they accept and refuse the same records.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from intake.base import AgencyAdapter, IntakeItem
from intake.errors import (
    AgencyMismatch,
    AgencyNotServed,
    InvalidRecord,
    MalformedRecord,
)
from intake.events import EventType, to_event
from intake.models import RECORD_TYPES, AnyRecord, format_errors, parse_record
from intake.registry import AdapterRegistry
from ketenbus.agencies import InvalidAgency, validate_agency
from ketenbus.contracts.codec import Codec, get_codec
from ketenbus.producer import OutgoingRecord
from ketenbus.pseudonyms import Pseudonymiser

CE_SPECVERSION = "1.0"
CONTENT_TYPE = "application/avro"


@dataclass(frozen=True)
class PreparedEvent:
    """A validated record, its event and the Kafka record carrying it."""

    record: AnyRecord
    adapter: AgencyAdapter
    event_type: EventType
    event_id: str
    outgoing: OutgoingRecord


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def guess_labels(payload: bytes) -> tuple[str | None, str | None]:
    """Agency and type of a record that failed validation, if they are themselves valid
    (used for metrics labels and dead-letter headers, so untrusted text never becomes a
    label)."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(data, dict):
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
    ) -> None:
        self.registry = registry
        self.pseudonymiser = pseudonymiser
        self.codec = codec or get_codec()
        self.clock = clock

    def validate(self, payload: bytes, field_names: Mapping[str, str] | None = None) -> AnyRecord:
        try:
            return parse_record(payload)
        except ValidationError as exc:
            errors = format_errors(exc, field_names)
            agency, kind = guess_labels(payload)
            malformed = any(e["type"] == "json_invalid" for e in exc.errors(include_input=False))
            cls = MalformedRecord if malformed else InvalidRecord
            summary = "; ".join(str(e) for e in errors)
            raise cls(summary, errors=errors, agency=agency, type=kind) from None

    def prepare(self, item: IntakeItem, *, expected_agency: str | None = None) -> PreparedEvent:
        """The Kafka record for `item`, or a `RecordRejected` saying why not."""
        if item.error is not None:
            raise item.error
        record = self.validate(item.payload, item.field_names)
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
        record = adapter.complete(record)
        adapter.authorise(record)
        kind, event = to_event(record, recorded_at=self.clock(), pseudonymiser=self.pseudonymiser)
        value = self.codec.encode(kind.schema, event)
        headers: list[tuple[str, bytes | str]] = [
            ("ce_id", event["event_id"]),
            (
                "ce_source",
                f"urn:nld:oin:{self.registry.oin(record.agency)}:systeem:ketenbus-{adapter.service}",
            ),
            ("ce_type", kind.ce_type),
            ("ce_time", _iso(record.occurred_at)),
            ("ce_specversion", CE_SPECVERSION),
            ("ce_dataschema", self.dataschema(kind.schema)),
            ("content-type", CONTENT_TYPE),
        ]
        outgoing = OutgoingRecord(
            topic=record.agency.source_topic, value=value, key=record.key, headers=headers
        )
        return PreparedEvent(record, adapter, kind, event["event_id"], outgoing)

    def dataschema(self, schema: str) -> str:
        """`urn:avro:<full name>:<CRC-64-AVRO fingerprint>` of the writer schema."""
        return f"urn:avro:{schema}:{self.codec.fingerprint_of(schema).hex()}"
