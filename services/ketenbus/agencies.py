"""Agency codes and the topic names they imply.

An agency code (`gemeente:0599`, `nla`, `politie`, `nau`, or one added in topics.yaml)
names a Kafka principal, the source topic it alone writes and the notification topic it
alone reads. Kafka topic names cannot hold ':', so `gemeente:0599` maps to
`events.gemeente.0599` / `notifications.gemeente.0599`.
"""

from __future__ import annotations

import re

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


def validate_agency(code: str) -> str:
    """Return the agency code if well-formed (`gemeente:` + 4 digits, or a lower-case name)."""
    if not _AGENCY.match(code) or code == "gemeente":
        raise InvalidAgency(
            "invalid agency: expected gemeente:<4-digit CBS code> or a lower-case agency name"
            " (nla, politie, nau, ...)"
        )
    return code


def is_gemeente(code: str) -> bool:
    return bool(_GEMEENTE.match(code))


def gemeente_of(municipality_code: str) -> str:
    """The agency code of a municipality (`0599` -> `gemeente:0599`)."""
    return f"{GEMEENTE_PREFIX}{municipality_code}"


def agency_slug(code: str) -> str:
    """The topic-safe form of an agency code (`gemeente:0599` -> `gemeente.0599`)."""
    return validate_agency(code).replace(":", ".")


def agency_from_slug(slug: str) -> str:
    return slug.replace(".", ":", 1) if slug.startswith("gemeente.") else slug


def source_topic(code: str) -> str:
    return SOURCE_PREFIX + agency_slug(code)


def notification_topic(code: str) -> str:
    return NOTIFICATION_PREFIX + agency_slug(code)


def agency_of_topic(topic: str) -> str | None:
    """The agency whose source or notification topic this is, if any."""
    for prefix in (SOURCE_PREFIX, NOTIFICATION_PREFIX):
        if topic.startswith(prefix):
            return agency_from_slug(topic[len(prefix) :])
    return None


def principal_of(code: str) -> str:
    """The Kafka principal name of an agency: `gemeente:0599` -> `gemeente-0599`."""
    return validate_agency(code).replace(":", "-")
