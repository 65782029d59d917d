"""The pure core of the webhook bridge: no I/O, unit tested.

- kenmerken: the few facts of a notification a subscriber can filter on (the ZGW word
  for the attributes of a notification; values are strings);
- bodies: CloudEvents structured JSON (NL GOV profile) or a ZGW Notificaties API message,
  both rendered from the public notification JSON (`correlator.projection.notification_json`)
  and deterministic: a redelivery sends the same bytes;
- signatures: HMAC-SHA256 over `<timestamp>.<body>`, so a captured request cannot be
  replayed later with a fresh timestamp;
- the retry schedule: exponential backoff with jitter, capped, within a time budget.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ketenbus.agencies import GEMEENTE_PREFIX

Notification = Mapping[str, Any]

#: kenmerken a subscription may filter on (ZGW `filters` on `kenmerken`)
FILTER_KEYS = ("status", "kind", "violations", "municipality", "lead_agency", "recidive")

CLOUDEVENT_TYPE = "nl.ketenbus.case.notification.v1"
CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"
JSON_CONTENT_TYPE = "application/json"
SIGNATURE_HEADER = "X-Ketenbus-Signature"
TIMESTAMP_HEADER = "X-Ketenbus-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SUBSCRIPTION_HEADER = "X-Ketenbus-Subscription"
ATTEMPT_HEADER = "X-Ketenbus-Delivery-Attempt"
#: ZGW resource name of what `resourceUrl` points at
ZGW_RESOURCE = "case"


# --- kenmerken and filters ------------------------------------------------------------


def municipality_of(note: Notification) -> str | None:
    """The CBS code of the case's municipality: the address's, else the gemeente leading it."""
    address = note.get("address") or {}
    if address.get("municipality_code"):
        return str(address["municipality_code"])
    lead = note.get("lead_agency") or ""
    return lead[len(GEMEENTE_PREFIX) :] if lead.startswith(GEMEENTE_PREFIX) else None


def kenmerken(note: Notification) -> dict[str, str]:
    """The filterable facts as ZGW kenmerken (strings; codes comma-joined, sorted)."""
    found = {
        "status": note["status"],
        "kind": note["kind"],
        "violations": ",".join(sorted(note.get("violations") or [])),
        "municipality": municipality_of(note),
        "lead_agency": note.get("lead_agency"),
        "recidive": "true" if note.get("recidive") else "false",
    }
    return {key: value for key, value in found.items() if value is not None}


def _facts(note: Notification) -> dict[str, set[str]]:
    facts = {key: {value} for key, value in kenmerken(note).items()}
    facts["violations"] = set(note.get("violations") or [])  # a code matches on its own
    return facts


def matches(filters: Mapping[str, Sequence[str]], note: Notification) -> bool:
    """Whether a notification passes a subscription's filters.

    Every filtered kenmerk must match (AND); a kenmerk matches when it has one of the listed
    values (OR). `violations` matches when the case holds any of the listed codes.
    """
    facts = _facts(note)
    return all(facts.get(key, set()) & set(accepted) for key, accepted in filters.items())


# --- bodies -----------------------------------------------------------------------------


def source_urn(oin: str, system: str = "ketenbus") -> str:
    """NL GOV CloudEvents `source`: urn:nld:oin:<OIN>:systeem:<system>."""
    return f"urn:nld:oin:{oin}:systeem:{system}"


def case_url(base_url: str, case_id: str) -> str:
    return f"{base_url.rstrip('/')}/{quote(case_id, safe=':')}"


def zgw_action(changes: Sequence[str]) -> str:
    """ZGW `actie`: create (case became known), update (status changed), else partial_update."""
    if any(change.startswith("status:new->") for change in changes):
        return "create"
    if any(change.startswith("status:") for change in changes):
        return "update"
    return "partial_update"


def cloudevent(note: Notification, *, source: str) -> dict[str, Any]:
    """CloudEvents 1.0 structured JSON, NL GOV profile: no personal data in the attributes
    (the subject is the case id; the address it may contain is not about a person)."""
    return {
        "specversion": "1.0",
        "id": note["notification_id"],
        "source": source,
        "type": CLOUDEVENT_TYPE,
        "time": note["issued_at"],
        "subject": note["case_id"],
        "datacontenttype": JSON_CONTENT_TYPE,
        "data": dict(note),
    }


def zgw_message(note: Notification, *, kanaal: str, case_base_url: str) -> dict[str, Any]:
    """A ZGW Notificaties API message (what Open Notificaties POSTs to an abonnement)."""
    url = case_url(case_base_url, note["case_id"])
    return {
        "kanaal": kanaal,
        "hoofdObject": url,
        "resource": ZGW_RESOURCE,
        "resourceUrl": url,
        "actie": zgw_action(note.get("changes") or []),
        "aanmaakdatum": note["issued_at"],
        "kenmerken": kenmerken(note),
    }


@dataclass(frozen=True)
class Body:
    content: bytes
    content_type: str


def render_body(
    body_format: str, note: Notification, *, source: str, kanaal: str, case_base_url: str
) -> Body:
    """The POST body of one notification in a subscription's format."""
    if body_format == "cloudevents":
        document, content_type = cloudevent(note, source=source), CLOUDEVENTS_CONTENT_TYPE
    elif body_format == "zgw":
        document = zgw_message(note, kanaal=kanaal, case_base_url=case_base_url)
        content_type = JSON_CONTENT_TYPE
    else:
        raise ValueError(f"unknown body format {body_format!r}")
    return Body(json.dumps(document, ensure_ascii=False).encode(), content_type)


# --- signatures -------------------------------------------------------------------------


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 with the subscription's secret over `<timestamp>.<body>`."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: bytes,
    body: bytes,
    signature_header: str,
    timestamp_header: str,
    *,
    now: float | None = None,
    tolerance_seconds: float = 300.0,
) -> bool:
    """What a receiver does: recompute, compare in constant time, reject stale timestamps."""
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), signature_header)


def request_headers(
    *,
    secret: bytes,
    body: Body,
    notification_id: str,
    subscription_id: str,
    attempt: int,
    timestamp: int,
    authorization: str | None = None,
) -> dict[str, str]:
    headers = {
        "Content-Type": body.content_type,
        IDEMPOTENCY_HEADER: notification_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body.content),
        SUBSCRIPTION_HEADER: subscription_id,
        ATTEMPT_HEADER: str(attempt),
    }
    if authorization:
        headers["Authorization"] = authorization
    return headers


def is_success(status_code: int) -> bool:
    return 200 <= status_code < 300


# --- retries ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: the n-th wait is up to initial * 2^(n-1), capped at max_delay,
    jittered into its upper half; no attempt starts after `budget` seconds."""

    initial_seconds: float = 1.0
    max_delay_seconds: float = 1800.0
    budget_seconds: float = 86400.0
    multiplier: float = 2.0


def backoff_delay(
    policy: RetryPolicy, failed_attempts: int, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait after the `failed_attempts`-th failed attempt (1-based)."""
    exponent = min(failed_attempts - 1, 64)  # 2**64 s is past any cap; avoid float overflow
    ceiling = min(policy.max_delay_seconds, policy.initial_seconds * policy.multiplier**exponent)
    # "equal jitter": spread retries of many subscriptions, but never retry sooner than half
    return ceiling * (0.5 + 0.5 * rand())


def next_delay(
    policy: RetryPolicy,
    failed_attempts: int,
    elapsed_seconds: float,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """The wait before the next attempt, or None when the budget is spent (dead letter).

    The last wait is shortened so the final attempt happens at the end of the budget.
    """
    if elapsed_seconds >= policy.budget_seconds:
        return None
    return min(
        backoff_delay(policy, failed_attempts, rand), policy.budget_seconds - elapsed_seconds
    )


def schedule(policy: RetryPolicy, rand: Callable[[], float] = random.random) -> list[float]:
    """When each attempt starts, in seconds after the first, if every attempt fails at once."""
    starts = [0.0]
    while (delay := next_delay(policy, len(starts), starts[-1], rand)) is not None:
        starts.append(starts[-1] + delay)
    return starts
