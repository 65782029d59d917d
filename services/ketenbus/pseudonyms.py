"""The key of person pseudonyms (`workers[].bsn` -> HMAC). It fails closed: no key is
built in. Outside dev/test the key must be configured (KETENBUS_PSEUDONYM_KEY); in dev and
test a random key is generated into `<KETENBUS_HOME>/secrets/pseudonym.key` (0600) on first
use and read back by every later process, so the whole local stack shares it."""

from __future__ import annotations

import secrets
from pathlib import Path

from ketenbus.errors import KetenbusError
from ketenbus.logging import get_logger
from ketenbus.normalise import pseudonym
from ketenbus.secretfiles import create_secret
from ketenbus.settings import Settings, get_settings

_DEV_ENVIRONMENTS = frozenset({"dev", "test"})
_MIN_KEY_BYTES = 32
DEV_KEY_FILE = "pseudonym.key"

log = get_logger("pseudonyms")


class PseudonymKeyMissing(KetenbusError):
    """No pseudonym key is configured outside dev/test: refuse to start."""


class PseudonymKeyTooShort(KetenbusError):
    """The configured (or stored) pseudonym key is too short to be a secret."""


def dev_key_path(settings: Settings) -> Path:
    return settings.secrets_dir / DEV_KEY_FILE


def _dev_key(settings: Settings) -> bytes:
    path = dev_key_path(settings)
    if not path.exists() and create_secret(path, secrets.token_hex(32).encode()):
        log.info("pseudonym_dev_key_generated", environment=settings.environment)
    key = path.read_bytes().strip()
    if len(key) < _MIN_KEY_BYTES:
        raise PseudonymKeyTooShort(f"{DEV_KEY_FILE} must hold at least {_MIN_KEY_BYTES} bytes")
    return key


def pseudonym_key(settings: Settings | None = None) -> bytes:
    """The HMAC key for person pseudonyms (KETENBUS_PSEUDONYM_KEY, or the dev key file)."""
    settings = settings or get_settings()
    if settings.pseudonym_key is not None:
        key = settings.pseudonym_key.get_secret_value().encode()
        if len(key) < _MIN_KEY_BYTES:
            raise PseudonymKeyTooShort(
                f"KETENBUS_PSEUDONYM_KEY must be at least {_MIN_KEY_BYTES} bytes"
            )
        return key
    if settings.environment in _DEV_ENVIRONMENTS:
        return _dev_key(settings)
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

    def derived_key(self, purpose: str) -> bytes:
        """A key for another purpose (e.g. ref fingerprints), derived so it reveals nothing
        of the pseudonym key."""
        return bytes.fromhex(pseudonym(self._key, purpose, kind="derived-key"))
