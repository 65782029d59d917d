"""Synthetic intake records with a realistic mix, for benchmarks and fault tests.

Deterministic for a seed. Dwellings cluster around landlords and staffing agencies the
way the Carnisse file describes: a few landlords own many dwellings, a few agencies
place the workers, most signals stay single complaints.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

MUNICIPALITIES = ("0599", "0363", "0518", "0344")
HOUSING = (
    "OVERCROWDING",
    "NO_WRITTEN_LEASE",
    "UNSAFE_DWELLING",
    "INTIMIDATION",
    "EXCESSIVE_RENT",
    "BRP_NOT_REGISTERED",
    "UNLICENSED_ROOM_LETTING",
)
LABOUR = ("UNDERPAYMENT", "ILLEGAL_EMPLOYMENT", "HOUSING_TIED_TO_JOB", "LABOUR_EXPLOITATION")
ACTIONS = ("ACKNOWLEDGED", "INVESTIGATION_STARTED", "JOINT_INSPECTION_PLANNED", "REFERRED")


@dataclass(frozen=True)
class _Dwelling:
    """One dwelling of the synthetic world and the organisations it is linked to."""

    municipality: str
    address: dict[str, Any]
    landlord: str
    staffing_agency: str


def synthetic_records(
    count: int,
    *,
    seed: int = 7,
    start: datetime = datetime(2025, 6, 1, tzinfo=UTC),
    prefix: str = "SYN",
    dwellings: int | None = None,
) -> list[dict[str, Any]]:
    """`count` intake records in event-time order over about a year (from `start`: a
    year that lies in the past, as the intake refuses an `occurred_at` ahead of its clock).

    `dwellings`: how many addresses the events spread over (default a quarter of
    `count`; at most 350,000 distinct ones exist); more dwellings, more (smaller) cases.
    """
    rng = random.Random(seed)
    dwellings = dwellings or max(4, count // 4)
    landlords = [f"5{n:07d}" for n in range(max(2, count // 40))]
    agencies = [f"6{n:07d}" for n in range(max(2, count // 100))]
    step = timedelta(days=365) / max(count, 1)
    records: list[dict[str, Any]] = []
    for i in range(count):
        dwelling = _dwelling(rng.randrange(dwellings), landlords, agencies)
        when = (start + step * i + timedelta(minutes=rng.randrange(60))).isoformat()
        roll = rng.random()
        base = {"ref": f"{prefix}-{i:06d}", "occurred_at": when}
        make = next((kind for below, kind in _MIX if roll < below), _case_action)
        records.append(make(rng, base, dwelling, agencies))
    return records


def _dwelling(d: int, landlords: list[str], agencies: list[str]) -> _Dwelling:
    """Dwelling number `d`: its address and organisations follow from the number alone."""
    municipality = MUNICIPALITIES[d % len(MUNICIPALITIES)]
    address = {
        "postcode": f"{3000 + (d // 50) % 7000:04d}{'ABCDEFGHJK'[d % 10]}"
        f"{'LMNPRSTVWX'[(d // 10) % 5]}",
        "house_number": 1 + d % 50,
        "municipality_code": municipality,
    }
    return _Dwelling(
        municipality, address, landlords[d % len(landlords)], agencies[d % len(agencies)]
    )


Record = dict[str, Any]


def _complaint(rng: random.Random, base: Record, at: _Dwelling, _: list[str]) -> Record:
    agency = rng.choice([f"gemeente:{at.municipality}", "politie", "nla"])
    return {
        **base,
        "agency": agency,
        "type": "complaint",
        "address": at.address,
        "landlord_kvk": at.landlord,
        "anonymous": agency.startswith("gemeente"),
        "violations": rng.sample(HOUSING, rng.randint(1, 2)),
    }


def _municipal_inspection(rng: random.Random, base: Record, at: _Dwelling, _: list[str]) -> Record:
    return {
        **base,
        "agency": f"gemeente:{at.municipality}",
        "type": "inspection",
        "address": at.address,
        "landlord_kvk": at.landlord,
        "violations": rng.sample(HOUSING, rng.randint(0, 2)),
        "occupants_found": rng.randint(2, 15),
        "occupants_registered": rng.randint(0, 4),
        "follow_up": rng.random() < 0.15,
    }


def _labour_inspection(rng: random.Random, base: Record, at: _Dwelling, _: list[str]) -> Record:
    return {
        **base,
        "agency": "nla",
        "type": "inspection",
        "address": at.address,
        "staffing_agency_kvk": at.staffing_agency,
        "violations": rng.sample(LABOUR, rng.randint(1, 2)),
    }


def _fine(rng: random.Random, base: Record, at: _Dwelling, _: list[str]) -> Record:
    return {
        **base,
        "agency": f"gemeente:{at.municipality}",
        "type": "sanction",
        "address": at.address,
        "sanction_type": "ADMINISTRATIVE_FINE",
        "violations": [rng.choice(HOUSING)],
        "target_kvk": at.landlord,
        "amount_eur": float(rng.randrange(1000, 25000)),
    }


def _revocation(rng: random.Random, base: Record, _: _Dwelling, agencies: list[str]) -> Record:
    return {
        **base,
        "agency": "nau",
        "type": "admission_revoked",
        "staffing_agency_kvk": rng.choice(agencies),
        "reason": "LABOUR_LAW_VIOLATIONS",
    }


def _case_action(rng: random.Random, base: Record, at: _Dwelling, _: list[str]) -> Record:
    return {
        **base,
        "agency": rng.choice([f"gemeente:{at.municipality}", "nla", "politie"]),
        "type": "case_action",
        "address": at.address,
        "action": rng.choice(ACTIONS),
    }


#: The mix: a record is of the first kind whose bound its roll stays below (else an action).
_MIX: tuple[tuple[float, Callable[[random.Random, Record, _Dwelling, list[str]], Record]], ...] = (
    (0.35, _complaint),
    (0.55, _municipal_inspection),
    (0.70, _labour_inspection),
    (0.80, _fine),
    (0.83, _revocation),
)
