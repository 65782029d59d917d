"""Keep person data out of dead letters, messages and logs (pure: no I/O).

A refused record is kept on the dead-letter topic so operations can see why, but never
with a person value in it. `redact` rebuilds a JSON record field by field:

- `workers[].bsn`: replaced by its keyed pseudonym (a valid BSN) or blanked;
- unknown fields (a `naam`, a `burgerservicenummer`, a BSN used as a JSON key): the value
  is blanked, and a key that is not a plain identifier is replaced too;
- free text (`reason`) and every value a validation error names: blanked;
- any remaining string holding a BSN-shaped run (9 digits, also spaced or dotted:
  `123 456 782`, `1234.56.782`) and any number of 8 or more digits (a BSN as a number
  or a float): blanked.

Bytes that are not one parseable JSON object (and records too large to read) cannot be
taken apart safely: their content is dropped, the dead letter keeps the reason, line and
headers only. The `ketenbus.errors.redacted` header lists what was done.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, Final

from intake.limits import check_shape
from intake.models import AdmissionReason, FieldError, safe_field_name
from ketenbus import normalise
from ketenbus.errors import KetenbusError
from ketenbus.pseudonyms import Pseudonymiser

#: 9 digits, each pair at most one separator apart (space, dot, hyphen, slash, comma,
#: underscore): how a BSN is written in free text.
BSN_SHAPED: Final = re.compile(r"(?<![0-9])[0-9](?:[ .\-_/,\u00a0]?[0-9]){8}(?![0-9])")
BLANK: Final = "[REDACTED]"

PSEUDONYMISED: Final = "bsn-pseudonymised"
BSN_SHAPES_BLANKED: Final = "bsn-shaped-values-blanked"
UNKNOWN_FIELDS_BLANKED: Final = "unknown-fields-blanked"
INVALID_VALUES_BLANKED: Final = "invalid-values-blanked"
FREE_TEXT_BLANKED: Final = "free-text-blanked"
CONTENT_DROPPED: Final = "content-dropped-unparseable"
TOO_LARGE_DROPPED: Final = "content-dropped-too-large"

#: Numbers this long may be a BSN written as a number (a leading 0 leaves 8 digits).
_LONG_NUMBER: Final = 10_000_000
_FREE_TEXT: Final = frozenset({"reason"})
_REASONS: Final = frozenset(r.value for r in AdmissionReason)
_INDEX: Final = re.compile(r"\[\d+\]")


def scrub_text(text: str) -> str:
    """A message safe for headers and logs: BSN-shaped runs blanked."""
    return BSN_SHAPED.sub(BLANK, text)


def has_bsn_shape(text: str) -> bool:
    return BSN_SHAPED.search(text) is not None


def _generic(path: str) -> str:
    """`workers[3].bsn` -> `workers[].bsn`: paths compared without list indexes."""
    return _INDEX.sub("[]", path)


class _Redactor:
    def __init__(self, pseudonymiser: Pseudonymiser, invalid: Iterable[str]) -> None:
        self.pseudonymiser = pseudonymiser
        self.invalid = set(invalid)
        self.invalid_generic = {_generic(p) for p in self.invalid}
        self.done: set[str] = set()

    def value(self, value: Any, path: str) -> Any:
        if path in self.invalid:
            self.done.add(INVALID_VALUES_BLANKED)
            return BLANK
        if isinstance(value, dict):
            return self.obj(value, path)
        if isinstance(value, list):
            return [self.value(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | float):
            if abs(value) >= _LONG_NUMBER or has_bsn_shape(repr(value)):
                self.done.add(BSN_SHAPES_BLANKED)
                return BLANK
            return value
        if isinstance(value, str) and has_bsn_shape(value):
            self.done.add(BSN_SHAPES_BLANKED)
            return scrub_text(value)
        return value

    def obj(self, data: dict[str, Any], path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for number, (key, item) in enumerate(data.items()):
            child = f"{path}.{key}" if path else key
            if safe_field_name(key) != key or has_bsn_shape(key):
                self.done.add(UNKNOWN_FIELDS_BLANKED)
                out[f"(unknown field {number})"] = BLANK
            elif _generic(child) == "workers[].bsn":
                out[key] = self.bsn(item)
            elif key in _FREE_TEXT and not (isinstance(item, str) and item in _REASONS):
                if item is not None:
                    self.done.add(FREE_TEXT_BLANKED)
                out[key] = None if item is None else BLANK
            elif not _known_path(child):
                self.done.add(UNKNOWN_FIELDS_BLANKED)
                out[key] = BLANK
            else:
                out[key] = self.value(item, child)
        return out

    def bsn(self, value: Any) -> str:
        self.done.add(PSEUDONYMISED)
        try:
            return "pseudonym:" + self.pseudonymiser.bsn(normalise.bsn(value))
        except (KetenbusError, ValueError, TypeError):
            return BLANK  # not a valid BSN: nothing worth pseudonymising, nothing kept


_KNOWN_PATHS: Final = frozenset(
    {
        "agency",
        "type",
        "ref",
        "occurred_at",
        "address",
        *(
            f"address.{f}"
            for f in (
                "postcode",
                "house_number",
                "house_letter",
                "addition",
                "bag_id",
                "municipality_code",
            )
        ),
        "landlord_kvk",
        "staffing_agency_kvk",
        "employer_kvk",
        "violations",
        "anonymous",
        "occupants_found",
        "occupants_registered",
        "access_refused",
        "follow_up",
        "workers",
        "workers[]",
        "workers[].bsn",
        "sanction_type",
        "target_kvk",
        "amount_eur",
        "reason",
        "action",
    }
)


def _known_path(path: str) -> bool:
    return _generic(path) in _KNOWN_PATHS


def redact(
    original: bytes,
    pseudonymiser: Pseudonymiser,
    errors: Iterable[FieldError] = (),
) -> tuple[bytes | None, str | None]:
    """The bytes safe to dead-letter (None: nothing could be kept), and what was removed
    (None: nothing, the original bytes are kept unchanged)."""
    try:
        parsed = check_shape(original)
    except KetenbusError:
        return None, CONTENT_DROPPED
    if not isinstance(parsed, dict):
        return None, CONTENT_DROPPED
    invalid = [e.path for e in errors if e.path and e.path != "(record)"]
    redactor = _Redactor(pseudonymiser, invalid)
    cleaned = redactor.obj(parsed, "")
    if not redactor.done:
        return original, None
    # ensure_ascii: a lone surrogate (valid JSON escape) cannot break the encoding
    return json.dumps(cleaned).encode(), ",".join(sorted(redactor.done))
