"""Pure normalisation of the identifiers agencies hand in (no I/O).

The correlator keys dwelling cases by `address_key(...)` and organisation profiles by
`kvk(...)`, so intake and correlator must normalise identically: both call these
functions. Each raises `InvalidValue` (a `ValueError`, so pydantic validators turn it into
a per-field message) naming what was expected. Messages never echo the input: it may
be person data in the wrong field (a BSN as KvK number, a name as postcode).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime

from ketenbus.errors import KetenbusError

_POSTCODE = re.compile(r"^[1-9][0-9]{3}[A-Z]{2}$")
_LETTER = re.compile(r"^[A-Z]$")
_ADDITION = re.compile(r"^[A-Z0-9]{1,4}$")
_BAG_ID = re.compile(r"^[0-9]{16}$")
_KVK = re.compile(r"^[0-9]{8}$")
_MUNICIPALITY = re.compile(r"^[0-9]{4}$")
_BSN = re.compile(r"^[0-9]{9}$")
_SPACES = re.compile(r"\s+")
MAX_HOUSE_NUMBER = 99999  # BAG: huisnummer is 1..99999


class InvalidValue(KetenbusError, ValueError):
    """A value cannot be normalised; the message says what was expected."""


def postcode(raw: str) -> str:
    """`3083 ab` -> `3083AB`: 4 digits (not starting with 0) and 2 letters."""
    value = _SPACES.sub("", raw).upper()
    if not _POSTCODE.match(value):
        raise InvalidValue(
            "invalid postcode: expected 4 digits not starting with 0 and 2 letters (e.g. 3083AB)"
        )
    return value


def house_number(raw: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_HOUSE_NUMBER:
        raise InvalidValue(f"invalid house number: expected 1..{MAX_HOUSE_NUMBER}")
    return raw


def house_letter(raw: str | None) -> str | None:
    """`a` -> `A`; empty -> None; more than one letter is an error."""
    if raw is None:
        return None
    value = raw.strip().upper()
    if not value:
        return None
    if not _LETTER.match(value):
        raise InvalidValue("invalid house letter: expected a single letter A-Z")
    return value


def addition(raw: str | None) -> str | None:
    """`-2 hg` -> `2HG`: upper-case, spaces and hyphens removed; empty -> None."""
    if raw is None:
        return None
    value = re.sub(r"[\s\-]", "", raw).upper()
    if not value:
        return None
    if not _ADDITION.match(value):
        raise InvalidValue("invalid house number addition: expected 1-4 letters or digits")
    return value


def bag_id(raw: str) -> str:
    """A BAG verblijfsobject/nummeraanduiding id: exactly 16 digits."""
    value = _SPACES.sub("", raw)
    if not _BAG_ID.match(value):
        raise InvalidValue("invalid bag_id: expected 16 digits")
    return value


def kvk(raw: str) -> str:
    """A KvK (Chamber of Commerce) number: exactly 8 digits, spaces removed."""
    value = _SPACES.sub("", raw)
    if not _KVK.match(value):
        raise InvalidValue("invalid KvK number: expected exactly 8 digits")
    return value


def municipality_code(raw: str) -> str:
    """A CBS municipality code: exactly 4 digits (`0599`)."""
    value = raw.strip()
    if not _MUNICIPALITY.match(value):
        raise InvalidValue("invalid municipality_code: expected 4 digits (e.g. 0599)")
    return value


def address_key(
    postcode_: str | None,
    house_number_: int | None,
    house_letter_: str | None = None,
    addition_: str | None = None,
    bag_id_: str | None = None,
) -> str:
    """The dwelling key: `3083AB-12-A[-2HG]` from normalised parts, else `BAG-<bag_id>`."""
    if postcode_ is not None and house_number_ is not None:
        parts = [postcode_, str(house_number_)]
        if house_letter_:
            parts.append(house_letter_)
        if addition_:
            parts.append(addition_)
        return "-".join(parts)
    if bag_id_ is not None:
        return f"BAG-{bag_id_}"
    raise InvalidValue("an address needs postcode and house_number, or a bag_id")


def to_utc(value: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is refused (its zone would be a guess)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(
            "timestamp has no time zone: expected ISO 8601 with a zone "
            "(e.g. 2026-05-02T09:30:00Z or +02:00)"
        )
    return value.astimezone(UTC)


def bsn(raw: str) -> str:
    """A BSN: 9 digits passing the elfproef. The message never contains the value."""
    value = _SPACES.sub("", raw) if isinstance(raw, str) else raw
    if not isinstance(value, str) or not _BSN.match(value):
        raise InvalidValue("invalid BSN: expected exactly 9 digits")
    digits = [int(c) for c in value]
    total = sum(w * d for w, d in zip(range(9, 1, -1), digits[:8], strict=True)) - digits[8]
    if total % 11 != 0 or value == "000000000":
        raise InvalidValue("invalid BSN: fails the elfproef (check digit)")
    return value


def pseudonym(key: bytes, identifier: str, *, kind: str = "bsn") -> str:
    """A keyed pseudonym: HMAC-SHA256 over `kind:identifier`, hex.

    Keyed, so nobody without the key can test a guessed BSN against it; stable, so the
    same person met twice yields the same pseudonym; `kind` keeps identifier spaces apart.
    """
    # hmac.digest: the one-shot C implementation, same value as hmac.new(...).hexdigest()
    return hmac.digest(key, f"{kind}:{identifier}".encode(), hashlib.sha256).hex()
