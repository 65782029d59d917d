"""Per subscription, two JSON-lines files under `<settings.home>/webhook/`:

- `<id>.log`: the delivery log, one line per attempt (and per filtered or dead-lettered
  notification): time, notification id, case id, attempt, HTTP status, latency, outcome;
- `<id>.dead.jsonl`: the dead-letter list: `dead` entries (with the notification, so it
  can be re-sent without reading Kafka) and `redelivered` entries that settle them.

Both are append-only, so the service and `ketenbus webhook redeliver` can write at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DELIVERED = "delivered"
RETRYING = "retrying"
FILTERED = "filtered"
DEAD = "dead"
REDELIVERED = "redelivered"
REDELIVERY_FAILED = "redelivery_failed"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _append(path: Path, entry: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:  # one write per line: O_APPEND keeps it whole
        out.write(json.dumps(entry, ensure_ascii=False) + "\n")


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line torn by a crash mid-write
    return entries


@dataclass(frozen=True)
class DeadLetter:
    notification: dict[str, Any]
    dead_at: str
    attempts: int
    last_error: str

    @property
    def notification_id(self) -> str:
        return str(self.notification["notification_id"])


@dataclass
class Summary:
    """Counts from the delivery log: notifications, not attempts."""

    delivered: int = 0
    filtered: int = 0
    retrying: int = 0
    retrying_ids: list[str] = field(default_factory=list)


class Journal:
    def __init__(self, directory: Path, subscription_id: str) -> None:
        self.log_path = directory / f"{subscription_id}.log"
        self.dead_path = directory / f"{subscription_id}.dead.jsonl"

    def attempt(
        self,
        *,
        notification_id: str,
        case_id: str,
        attempt: int,
        outcome: str,
        status_code: int | None = None,
        latency_ms: float | None = None,
        error: str | None = None,
    ) -> None:
        entry: dict[str, Any] = {
            "at": _now(),
            "notification_id": notification_id,
            "case_id": case_id,
            "attempt": attempt,
            "outcome": outcome,
            "status_code": status_code,
            "latency_ms": None if latency_ms is None else round(latency_ms, 1),
        }
        if error:
            entry["error"] = error
        _append(self.log_path, entry)

    def dead(self, notification: dict[str, Any], *, attempts: int, last_error: str) -> None:
        _append(
            self.dead_path,
            {
                "event": DEAD,
                "at": _now(),
                "notification_id": notification["notification_id"],
                "attempts": attempts,
                "last_error": last_error,
                "notification": notification,
            },
        )

    def redelivered(self, notification_id: str) -> None:
        _append(
            self.dead_path, {"event": REDELIVERED, "at": _now(), "notification_id": notification_id}
        )

    def dead_letters(self) -> list[DeadLetter]:
        """The dead letters not redelivered since, oldest first, each id once."""
        pending: dict[str, DeadLetter] = {}
        for entry in _read(self.dead_path):
            nid = str(entry.get("notification_id"))
            if entry.get("event") == DEAD and isinstance(entry.get("notification"), dict):
                pending[nid] = DeadLetter(
                    entry["notification"], entry["at"], entry["attempts"], entry["last_error"]
                )
            elif entry.get("event") == REDELIVERED:
                pending.pop(nid, None)
        return list(pending.values())

    def summary(self) -> Summary:
        last: dict[str, str] = {}
        delivered: set[str] = set()
        for entry in _read(self.log_path):
            nid, outcome = str(entry.get("notification_id")), str(entry.get("outcome"))
            last[nid] = outcome
            if outcome in (DELIVERED, REDELIVERED):
                delivered.add(nid)
        retrying = sorted(nid for nid, outcome in last.items() if outcome == RETRYING)
        return Summary(
            delivered=len(delivered),
            filtered=sum(1 for outcome in last.values() if outcome == FILTERED),
            retrying=len(retrying),
            retrying_ids=retrying,
        )
