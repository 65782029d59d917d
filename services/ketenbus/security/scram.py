"""SCRAM-SHA-512 credentials: new passwords, format-time entries, and upserts on a cluster.

The broker stores only salted hashes; the plain password lives in the principal's
properties file (0600) and nowhere else. Upserting a credential replaces the old one
(rotation): the old password stops working at once.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # no __all__ there
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)

from ketenbus.security.errors import ScramUpdateFailed

ITERATIONS = 8192
TIMEOUT_S = 30.0


def new_password() -> str:
    """32 random bytes, URL-safe: no character needs escaping in a properties file."""
    return secrets.token_urlsafe(32)


def format_argument(username: str, password: str) -> str:
    """One `--add-scram` value for `kafka-storage format` (put in an argfile, never argv)."""
    return f'SCRAM-SHA-512=[name={username},password="{password}",iterations={ITERATIONS}]'


def upsert(admin: AdminClient, credentials: Iterable[tuple[str, str]]) -> list[str]:
    """Create or replace the SCRAM-SHA-512 credential of each (user, password); the users."""
    upsertions: list[UserScramCredentialAlteration] = [
        UserScramCredentialUpsertion(
            user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, ITERATIONS), password.encode()
        )
        for user, password in credentials
    ]
    if not upsertions:
        return []
    futures = admin.alter_user_scram_credentials(upsertions, request_timeout=TIMEOUT_S)
    failed: list[str] = []
    for user, future in futures.items():
        try:
            future.result(timeout=TIMEOUT_S)
        except KafkaException as exc:
            failed.append(f"{user}: {exc.args[0].str()}")
    if failed:
        raise ScramUpdateFailed("SCRAM credential update refused: " + "; ".join(failed))
    return sorted(futures)


def users(admin: AdminClient) -> list[str]:
    """The users that have a SCRAM credential on the cluster."""
    try:
        described = admin.describe_user_scram_credentials(request_timeout=TIMEOUT_S)
        result = described.result(timeout=TIMEOUT_S) if hasattr(described, "result") else described
    except KafkaException as exc:
        raise ScramUpdateFailed(f"cannot list SCRAM users: {exc.args[0].str()}") from exc
    return sorted(result)
