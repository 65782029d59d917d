"""Intake clients: who may call an agency service's HTTP API, and for which agencies.

The Dutch government API convention of the ZGW APIs (Open Zaak, Open Notificaties): a
client holds a secret; each request carries `Authorization: Bearer <JWT>`, the JWT
signed HS256 with that secret and carrying `client_id` and `iat` (we also set `exp`).
The server looks the client up by `client_id`, checks the signature and that the token
is fresh (`iat` no older than `intake_token_max_age_seconds`, leeway for clock skew), and
then lets the client publish only for the agency codes bound to it in the registry.

The registry: one file per client, `<KETENBUS_HOME>/secrets/<client_id>.intake.json`
(0600): `{"client_id", "secret", "agencies", "issued_at"}`. The client id of an agency is
its Kafka principal (`gemeente:0599` -> `gemeente-0599`). Rotating replaces the secret;
servers re-read a changed file on the next request, so the old secret stops working.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import jwt

from intake.errors import AdapterError
from ketenbus.agencies import principal_of, validate_agency
from ketenbus.secretfiles import write_secret
from ketenbus.settings import Settings, get_settings

ALGORITHM: Final = "HS256"
SUFFIX: Final = ".intake.json"
_CLIENT_ID: Final = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
_DEV_ENVIRONMENTS: Final = frozenset({"dev", "test"})


class ClientError(AdapterError):
    """Base of the intake-client errors."""


class ClientMissing(ClientError):
    """No intake client is registered for an agency (outside dev/test: issue one first)."""


class Unauthenticated(ClientError):
    """A request's bearer token is missing or not valid; `reason` says which rule failed."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class IntakeClient:
    """A registered client: its id, its secret and the agencies it may publish for."""

    client_id: str
    secret: str
    agencies: tuple[str, ...]
    issued_at: str
    path: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "secret": self.secret,
            "agencies": list(self.agencies),
            "issued_at": self.issued_at,
        }


def client_id_of(agency: str) -> str:
    """The intake client id of an agency: its Kafka principal name."""
    return principal_of(agency)


def client_path(settings: Settings, client_id: str) -> Path:
    if not _CLIENT_ID.match(client_id):
        raise ClientMissing("malformed client id")
    return settings.secrets_dir / f"{client_id}{SUFFIX}"


def _read(path: Path) -> IntakeClient:
    data = json.loads(path.read_text())
    return IntakeClient(
        client_id=str(data["client_id"]),
        secret=str(data["secret"]),
        agencies=tuple(validate_agency(a) for a in data["agencies"]),
        issued_at=str(data.get("issued_at", "")),
        path=path,
    )


def load_client(settings: Settings, client_id: str) -> IntakeClient | None:
    path = client_path(settings, client_id)
    try:
        return _read(path)
    except FileNotFoundError:
        return None


def issue_intake_client(
    agency: str, *, rotate: bool = False, settings: Settings | None = None
) -> IntakeClient:
    """The intake client of `agency`, created when missing; `rotate` replaces its secret
    (tokens signed with the old one stop working)."""
    settings = settings or get_settings()
    agency = validate_agency(agency)
    client_id = client_id_of(agency)
    existing = load_client(settings, client_id)
    if existing is not None and not rotate:
        return existing
    agencies = existing.agencies if existing is not None else (agency,)
    client = IntakeClient(
        client_id=client_id,
        secret=secrets.token_urlsafe(48),
        agencies=agencies if agency in agencies else (*agencies, agency),
        issued_at=datetime.now(UTC).isoformat(timespec="seconds"),
        path=client_path(settings, client_id),
    )
    write_secret(client.path, (json.dumps(client.to_json(), indent=2) + "\n").encode())
    return client


def list_intake_clients(settings: Settings | None = None) -> list[IntakeClient]:
    settings = settings or get_settings()
    if not settings.secrets_dir.is_dir():
        return []
    return [_read(p) for p in sorted(settings.secrets_dir.glob(f"*{SUFFIX}"))]


def make_token(agency: str, settings: Settings | None = None, *, now: float | None = None) -> str:
    """A fresh bearer token for `agency`'s intake client. In dev/test the client is
    created when missing (the local stack needs nothing configured by hand); elsewhere it
    must have been issued (`ketenbus credentials issue`)."""
    settings = settings or get_settings()
    agency = validate_agency(agency)
    client = load_client(settings, client_id_of(agency))
    if client is None:
        if settings.environment not in _DEV_ENVIRONMENTS:
            raise ClientMissing(
                f"no intake client for {agency}: run `ketenbus credentials issue {agency}`"
            )
        client = issue_intake_client(agency, settings=settings)
    return sign(client.client_id, client.secret, settings, now=now)


def sign(client_id: str, secret: str, settings: Settings, *, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": client_id,
        "client_id": client_id,
        "iat": issued,
        "exp": issued + settings.intake_token_max_age_seconds,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


@dataclass(frozen=True)
class Caller:
    """An authenticated client: who it is and what it may publish for."""

    client_id: str
    agencies: frozenset[str]


def _mtime(path: str) -> int | None:
    """The registry file's stamp (None: gone); one stat per request, so a rotated or
    removed client stops working at once."""
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None


class ClientRegistry:
    """Verifies bearer tokens against the registry files (re-read when they change)."""

    #: verified tokens kept (a client reuses its token for many requests)
    VERIFIED_CACHE_SIZE: Final = 10_000

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cache: dict[str, tuple[int, IntakeClient]] = {}
        #: SHA-256 of the header -> (caller, valid until, registry file stamp, its path)
        self._verified: dict[bytes, tuple[Caller, float, int, str]] = {}
        self._lock = threading.Lock()

    def _stamp(self, client_id: str) -> int | None:
        try:
            return os.stat(client_path(self.settings, client_id)).st_mtime_ns
        except (ClientMissing, FileNotFoundError):
            return None

    def _client(self, client_id: str) -> IntakeClient | None:
        stamp = self._stamp(client_id)
        if stamp is None:
            return None
        path = client_path(self.settings, client_id)
        with self._lock:
            cached = self._cache.get(client_id)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        try:
            client = _read(path)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        with self._lock:
            self._cache[client_id] = (stamp, client)
        return client

    def authenticate(self, authorization: str | None, *, now: float | None = None) -> Caller:
        """The caller of a request with this `Authorization` header, or `Unauthenticated`.

        A verified token is remembered until it expires, as long as its client's registry
        file is unchanged (a rotation invalidates it at once).
        """
        current = time.time() if now is None else now
        # keyed by the header's hash: the cache does not keep usable tokens in memory
        digest = hashlib.sha256((authorization or "").encode()).digest()
        known = self._verified.get(digest)
        if known is not None:
            caller, valid_until, stamp, path = known
            if current < valid_until and _mtime(path) == stamp:
                return caller
        caller, valid_until = self._verify(authorization, current)
        stamp_now = self._stamp(caller.client_id)
        if stamp_now is not None and authorization:
            path = str(client_path(self.settings, caller.client_id))
            with self._lock:
                if len(self._verified) >= self.VERIFIED_CACHE_SIZE:
                    self._verified.clear()
                self._verified[digest] = (caller, valid_until, stamp_now, path)
        return caller

    def _verify(self, authorization: str | None, current: float) -> tuple[Caller, float]:
        if not authorization:
            raise Unauthenticated("missing_token", "an Authorization: Bearer <JWT> is required")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("missing_token", "the Authorization header must be Bearer <JWT>")
        try:
            unverified = jwt.api_jwt.decode_complete(
                token, options={"verify_signature": False}, algorithms=[ALGORITHM]
            )
        except jwt.PyJWTError:
            raise Unauthenticated("malformed_token", "the token is not a JWT") from None
        claims_seen: Mapping[str, Any] = unverified["payload"]
        client_id = claims_seen.get("client_id")
        if unverified["header"].get("alg") != ALGORITHM or not isinstance(client_id, str):
            raise Unauthenticated("invalid_token", "the token needs HS256 and a client_id claim")
        client = self._client(client_id)
        if client is None:
            raise Unauthenticated("invalid_token", "unknown client or bad signature")
        leeway = self.settings.intake_token_leeway_seconds
        try:
            claims = jwt.decode(
                token,
                client.secret,
                algorithms=[ALGORITHM],
                leeway=leeway,
                options={"require": ["iat", "client_id"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token_expired", "the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("invalid_token", "the token is issued in the future") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("invalid_token", "unknown client or bad signature") from None
        except jwt.PyJWTError:
            raise Unauthenticated("invalid_token", "the token's claims are not valid") from None
        issued = claims["iat"]
        if not isinstance(issued, int | float) or issued > current + leeway:
            raise Unauthenticated("invalid_token", "the token is issued in the future")
        valid_until = issued + self.settings.intake_token_max_age_seconds + leeway
        expires = claims.get("exp")
        if isinstance(expires, int | float):
            valid_until = min(valid_until, expires + leeway)
        if current >= valid_until:
            raise Unauthenticated("token_expired", "the token is older than its lifetime")
        return Caller(client.client_id, frozenset(client.agencies)), valid_until
