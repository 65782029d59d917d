"""Builders of SourceEvents for the correlator's pure-domain tests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from correlator.domain.events import SourceEvent

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def at(days: float) -> int:
    return int((T0 + timedelta(days=days)).timestamp() * 1000)


def address(
    key: str = "3083AB-12-A", municipality: str | None = "0599", bag_id: str | None = None
) -> dict[str, object]:
    if key.startswith("BAG-"):
        return {
            "key": key,
            "postcode": None,
            "house_number": None,
            "house_letter": None,
            "addition": None,
            "bag_id": key[4:],
            "municipality_code": municipality,
        }
    postcode, number, *rest = key.split("-")
    return {
        "key": key,
        "postcode": postcode,
        "house_number": int(number),
        "house_letter": rest[0] if rest else None,
        "addition": None,
        "bag_id": bag_id,
        "municipality_code": municipality,
    }


def event(
    type: str,
    agency: str,
    ref: str,
    day: float = 0,
    *,
    dwelling: str | None = "3083AB-12-A",
    municipality: str | None = "0599",
    violations: tuple[str, ...] = (),
    landlord: str | None = None,
    staffing: str | None = None,
    employer: str | None = None,
    target: str | None = None,
    follow_up: bool = False,
    access_refused: bool = False,
    change: str | None = None,
    action: str | None = None,
    bag_id: str | None = None,
) -> SourceEvent:
    roles = {
        "landlord": landlord,
        "staffing_agency": staffing,
        "employer": employer,
        "target": target,
    }
    return SourceEvent(
        event_id=hashlib.sha256(f"{agency}/{ref}".encode()).hexdigest()[:32],
        type=type,
        agency=agency,
        ref=ref,
        occurred_at=at(day),
        dwelling=dwelling,
        address=address(dwelling, municipality, bag_id) if dwelling else None,
        organisations=tuple(sorted((r, k) for r, k in roles.items() if k)),
        violations=tuple(sorted(violations)),
        follow_up=follow_up,
        access_refused=access_refused,
        admission_change=change,
        action=action,
    )
