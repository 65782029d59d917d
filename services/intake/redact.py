"""Keep BSNs out of dead letters: a rejected record is kept, but never with a BSN in clear.

A JSON record gets every `bsn` value replaced by its keyed pseudonym; any other 9-digit
run (a BSN under a wrong field name, or in bytes that are not JSON) is blanked. The
dead letter's `redacted` header says what was done; untouched records keep their bytes.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ketenbus.pseudonyms import Pseudonymiser

_NINE_DIGITS = re.compile(r"(?<![0-9])[0-9]{9}(?![0-9])")
_NINE_DIGITS_BYTES = re.compile(rb"(?<![0-9])[0-9]{9}(?![0-9])")
BLANK = "[REDACTED]"
PSEUDONYMISED = "bsn-pseudonymised"
NINE_DIGITS_BLANKED = "9-digit-runs-blanked"


def _walk(value: Any, pseudonymiser: Pseudonymiser, done: set[str]) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if isinstance(k, str) and k.lower() == "bsn" and isinstance(v, str | int):
                out[k] = "pseudonym:" + pseudonymiser.bsn(str(v))
                done.add(PSEUDONYMISED)
            else:
                out[k] = _walk(v, pseudonymiser, done)
        return out
    if isinstance(value, list):
        return [_walk(v, pseudonymiser, done) for v in value]
    if isinstance(value, str) and _NINE_DIGITS.search(value):
        done.add(NINE_DIGITS_BLANKED)
        return _NINE_DIGITS.sub(BLANK, value)
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and _NINE_DIGITS.fullmatch(str(value))
    ):
        done.add(NINE_DIGITS_BLANKED)
        return BLANK
    return value


def redact(original: bytes, pseudonymiser: Pseudonymiser) -> tuple[bytes, str | None]:
    """The bytes safe to dead-letter, and what was redacted (None: unchanged)."""
    try:
        parsed = json.loads(original)
    except (ValueError, UnicodeDecodeError):
        cleaned, count = _NINE_DIGITS_BYTES.subn(BLANK.encode(), original)
        return (cleaned, NINE_DIGITS_BLANKED) if count else (original, None)
    done: set[str] = set()
    cleaned_value = _walk(parsed, pseudonymiser, done)
    if not done:
        return original, None
    return json.dumps(cleaned_value, ensure_ascii=False).encode(), ",".join(sorted(done))


def scrub_text(text: str) -> str:
    """A message safe for headers and logs: 9-digit runs (a BSN in a wrong field) blanked."""
    return _NINE_DIGITS.sub(BLANK, text)
