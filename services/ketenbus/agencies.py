"""Agency codes and the topic names they imply.

An agency code (`gemeente:0599`, `nla`, `politie`, `nau`, or one added in topics.yaml)
names a Kafka principal, the source topic it alone writes and the notification topic it
alone reads. Kafka topic names cannot hold ':', so `gemeente:0599` maps to
`events.gemeente.0599` / `notifications.gemeente.0599`.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from ketenbus.errors import KetenbusError

GEMEENTE_PREFIX = "gemeente:"
_GEMEENTE = re.compile(r"^gemeente:(\d{4})$")
_AGENCY = re.compile(r"^(gemeente:\d{4}|[a-z][a-z0-9]{1,30})$")

CASES_TOPIC = "cases.events"
DEADLETTER_TOPIC = "deadletter"
SOURCE_PREFIX = "events."
NOTIFICATION_PREFIX = "notifications."
SOURCE_TOPIC_PATTERN = r"^events\..+"


class InvalidAgency(KetenbusError):
    """A string is not a well-formed agency code."""


class AgencyCode(str):
    """A well-formed agency code, parsed once where it enters (an intake record, a
    command-line option, topics.yaml) and trusted from there on.

    A `str`, so it travels unchanged into Avro, JSON, metric labels and dict keys; every
    function below that takes a code accepts a plain string too and parses it, which for
    an `AgencyCode` is only an isinstance check.
    """

    __slots__ = ()

    def __new__(cls, code: str) -> AgencyCode:
        if isinstance(code, AgencyCode):
            return code
        if not _AGENCY.match(code) or code == "gemeente":
            raise InvalidAgency(  # the input is not repeated: it may be person data
                "invalid agency: expected gemeente:<4-digit CBS code> or a lower-case agency"
                " name (nla, politie, nau, ...)"
            )
        return super().__new__(cls, code)

    @property
    def is_gemeente(self) -> bool:
        return self.startswith(GEMEENTE_PREFIX)

    @property
    def cbs(self) -> str | None:
        """A municipality's CBS code (`gemeente:0599` -> `0599`); None for other agencies."""
        return self[len(GEMEENTE_PREFIX) :] if self.is_gemeente else None

    @property
    def slug(self) -> str:
        """The topic-safe form (`gemeente:0599` -> `gemeente.0599`)."""
        return self.replace(":", ".")

    @property
    def principal(self) -> str:
        """The Kafka principal name (`gemeente:0599` -> `gemeente-0599`)."""
        return self.replace(":", "-")

    @property
    def source_topic(self) -> str:
        return SOURCE_PREFIX + self.slug

    @property
    def notification_topic(self) -> str:
        return NOTIFICATION_PREFIX + self.slug

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """In a pydantic model: a string, parsed into an AgencyCode (a refusal per field)."""
        return core_schema.no_info_after_validator_function(_parse_field, core_schema.str_schema())


def _parse_field(value: str) -> AgencyCode:
    try:
        return AgencyCode(value)
    except InvalidAgency as exc:  # pydantic reports ValueErrors per field
        raise ValueError(str(exc)) from None


def validate_agency(code: str) -> AgencyCode:
    """The agency code if well-formed (`gemeente:` + 4 digits, or a lower-case name)."""
    return AgencyCode(code)


def is_gemeente(code: str) -> bool:
    return code.is_gemeente if isinstance(code, AgencyCode) else bool(_GEMEENTE.match(code))


def gemeente_of(municipality_code: str) -> str:
    """The agency code of a municipality (`0599` -> `gemeente:0599`)."""
    return f"{GEMEENTE_PREFIX}{municipality_code}"


def agency_slug(code: str) -> str:
    """The topic-safe form of an agency code (`gemeente:0599` -> `gemeente.0599`)."""
    return AgencyCode(code).slug


def agency_from_slug(slug: str) -> str:
    return slug.replace(".", ":", 1) if slug.startswith("gemeente.") else slug


def source_topic(code: str) -> str:
    return AgencyCode(code).source_topic


def notification_topic(code: str) -> str:
    return AgencyCode(code).notification_topic


def agency_of_topic(topic: str) -> str | None:
    """The agency whose source or notification topic this is, if any."""
    for prefix in (SOURCE_PREFIX, NOTIFICATION_PREFIX):
        if topic.startswith(prefix):
            return agency_from_slug(topic[len(prefix) :])
    return None


def principal_of(code: str) -> str:
    """The Kafka principal name of an agency: `gemeente:0599` -> `gemeente-0599`."""
    return AgencyCode(code).principal
