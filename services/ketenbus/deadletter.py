"""The dead-letter topic's message shape, shared by every producer of dead letters.

Kafka Connect convention: the original bytes as the value (unchanged unless personal data
had to be removed, which the `redacted` header then says), the cause in headers. Ours are
`ketenbus.errors.*`, plus Connect's own names for the exception class and message.
"""

from __future__ import annotations

from ketenbus.agencies import DEADLETTER_TOPIC
from ketenbus.producer import OutgoingRecord

H_SOURCE = "ketenbus.errors.source"
H_REASON = "ketenbus.errors.reason"
H_LINE = "ketenbus.errors.line"
H_AGENCY = "ketenbus.errors.agency"
H_TYPE = "ketenbus.errors.type"
H_REDACTED = "ketenbus.errors.redacted"
H_EXCEPTION_CLASS = "__connect.errors.exception.class.name"
H_EXCEPTION_MESSAGE = "__connect.errors.exception.message"
_MAX_MESSAGE = 2000


def dead_letter(
    value: bytes | None,
    *,
    source: str,
    reason: str,
    exception: BaseException | str,
    message: str,
    key: bytes | str | None = None,
    line: int | None = None,
    agency: str | None = None,
    type: str | None = None,
    redacted: str | None = None,
) -> OutgoingRecord:
    """A record for the dead-letter topic. `message` must not contain personal data."""
    exc_class = exception if isinstance(exception, str) else type_name(exception)
    headers: list[tuple[str, bytes | str]] = [
        (H_SOURCE, source),
        (H_REASON, reason),
        (H_EXCEPTION_CLASS, exc_class),
        (H_EXCEPTION_MESSAGE, message[:_MAX_MESSAGE]),
    ]
    if line is not None:
        headers.append((H_LINE, str(line)))
    if agency is not None:
        headers.append((H_AGENCY, agency))
    if type is not None:
        headers.append((H_TYPE, type))
    if redacted is not None:
        headers.append((H_REDACTED, redacted))
    return OutgoingRecord(topic=DEADLETTER_TOPIC, value=value, key=key, headers=headers)


def type_name(exc: BaseException) -> str:
    cls = exc.__class__
    return f"{cls.__module__}.{cls.__qualname__}"
