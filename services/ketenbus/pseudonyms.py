"""The key of person pseudonyms (`workers[].bsn` -> HMAC): from settings, never a default
outside dev/test, where a fixed, publicly known dev key is used with a warning."""

from __future__ import annotations

from ketenbus.errors import KetenbusError
from ketenbus.logging import get_logger
from ketenbus.normalise import pseudonym
from ketenbus.settings import Settings, get_settings

#: Public, so pseudonyms made with it protect nothing: dev and test only.
DEV_PSEUDONYM_KEY = b"ketenbus-dev-pseudonym-key--NOT-FOR-PRODUCTION"
_DEV_ENVIRONMENTS = frozenset({"dev", "test"})
_MIN_KEY_BYTES = 32

log = get_logger("pseudonyms")


class PseudonymKeyMissing(KetenbusError):
    """No pseudonym key is configured outside dev/test: refuse to start."""


class PseudonymKeyTooShort(KetenbusError):
    """The configured pseudonym key is too short to be a secret."""


def pseudonym_key(settings: Settings | None = None) -> bytes:
    """The HMAC key for person pseudonyms (KETENBUS_PSEUDONYM_KEY)."""
    settings = settings or get_settings()
    if settings.pseudonym_key is not None:
        key = settings.pseudonym_key.get_secret_value().encode()
        if len(key) < _MIN_KEY_BYTES:
            raise PseudonymKeyTooShort(
                f"KETENBUS_PSEUDONYM_KEY must be at least {_MIN_KEY_BYTES} bytes"
            )
        return key
    if settings.environment in _DEV_ENVIRONMENTS:
        log.warning("pseudonym_dev_key_used", environment=settings.environment)
        return DEV_PSEUDONYM_KEY
    raise PseudonymKeyMissing(
        f"KETENBUS_PSEUDONYM_KEY is not set (environment {settings.environment!r}): "
        "refusing to start, person pseudonyms need a secret key outside dev/test"
    )


class Pseudonymiser:
    """Turns person identifiers into keyed pseudonyms with one key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def bsn(self, value: str) -> str:
        return pseudonym(self._key, value, kind="bsn")
