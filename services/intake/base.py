"""The base of every agency service: what it owns, what it may publish, its extras.

A concrete adapter is a few declarations (see services/agencies/nla/adapter.py): the service name,
which agency codes it owns, which event types those agencies may publish, optionally a
hook that completes/checks records and readers for native file formats. Validation,
normalisation, event mapping, publishing, dead letters, metrics, health and the HTTP app
come from the SDK (`intake.core`, `.publisher`, `.app`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from intake.errors import NotCompetent, RecordRejected, TypeNotAllowed
from intake.models import AnyRecord, SanctionRecord
from ketenbus.domain import may_impose


@dataclass(frozen=True)
class IntakeItem:
    """One record as received: the JSON to validate and the bytes to dead-letter."""

    payload: bytes
    original: bytes
    line: int | None = None
    #: set by a file reader that could not turn the line into a record at all
    error: RecordRejected | None = None
    #: intake field -> the name the sender knows (e.g. a CSV column), for messages
    field_names: Mapping[str, str] | None = None
    #: cut off while reading for its size: nothing of it may be kept
    too_large: bool = False


FileReader = Callable[[Path], Iterator[IntakeItem]]

#: Event types every agency may publish.
UNIVERSAL_TYPES = frozenset({"case_action"})


class AgencyAdapter:
    """Declarations of one agency service; subclasses override the class attributes."""

    #: service name: the package, the CloudEvents `systeem`, the port setting prefix
    service: ClassVar[str] = ""
    #: intake types the owned agencies may publish (case_action is always allowed)
    event_types: ClassVar[frozenset[str]] = frozenset()
    #: native file formats by file-name ending (".csv", ".belastingdienst.jsonl"), besides JSONL
    file_readers: ClassVar[Mapping[str, FileReader]] = {}
    #: default HTTP port of an adapter added with `ketenbus new-adapter` (the built-in ones
    #: have a port setting); KETENBUS_ADAPTER_PORTS overrides it
    port: ClassVar[int | None] = None

    def owns(self, agency: str) -> bool:
        """Whether this service publishes for `agency`."""
        raise NotImplementedError

    @property
    def allowed_types(self) -> frozenset[str]:
        return self.event_types | UNIVERSAL_TYPES

    def complete(self, record: AnyRecord) -> AnyRecord:
        """Fill in what the agency implies (e.g. the municipality code); default: nothing."""
        return record

    def check(self, record: AnyRecord) -> None:
        """Agency-specific refusals beyond the common ones; raise a `RecordRejected`."""

    def authorise(self, record: AnyRecord) -> None:
        """Refuse what this agency may not publish: foreign event or sanction types.

        Violation codes are not checked against competence: joint inspections establish
        codes for each other (docs/integration.md#intake-format: inspections by gemeente, nla,
        politie jointly),
        and competence decides who is notified, not who may report.
        """
        if record.type not in self.allowed_types:
            raise TypeNotAllowed(
                f"agency {record.agency} may not publish {record.type}"
                f" (allowed: {', '.join(sorted(self.allowed_types))})",
                agency=record.agency,
                type=record.type,
            )
        if isinstance(record, SanctionRecord) and not may_impose(
            record.agency, str(record.sanction_type)
        ):
            raise NotCompetent(
                f"agency {record.agency} may not impose {record.sanction_type}",
                agency=record.agency,
                type=record.type,
            )
        self.check(record)
