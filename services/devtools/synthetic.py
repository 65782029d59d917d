"""Synthetic intake records with a realistic mix, for benchmarks and fault tests.

Deterministic for a seed. Dwellings cluster around landlords and staffing agencies the
way the Carnisse file describes: a few landlords own many dwellings, a few agencies
place the workers, most signals stay single complaints.
"""

from __future__ import annotations

import random
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


def synthetic_records(
    count: int,
    *,
    seed: int = 7,
    start: datetime = datetime(2025, 6, 1, tzinfo=UTC),
    prefix: str = "SYN",
) -> list[dict[str, Any]]:
    """`count` intake records in event-time order over about a year (from `start`: a
    year that lies in the past, as the intake refuses an `occurred_at` ahead of its clock)."""
    rng = random.Random(seed)
    dwellings = max(4, count // 4)
    landlords = [f"5{n:07d}" for n in range(max(2, count // 40))]
    agencies = [f"6{n:07d}" for n in range(max(2, count // 100))]
    step = timedelta(days=365) / max(count, 1)
    records: list[dict[str, Any]] = []
    for i in range(count):
        d = rng.randrange(dwellings)
        municipality = MUNICIPALITIES[d % len(MUNICIPALITIES)]
        address = {
            "postcode": f"{3000 + d // 50:04d}{'ABCDEFGHJK'[d % 10]}{'LMNPRSTVWX'[(d // 10) % 5]}",
            "house_number": 1 + d % 50,
            "municipality_code": municipality,
        }
        when = (start + step * i + timedelta(minutes=rng.randrange(60))).isoformat()
        landlord = landlords[d % len(landlords)]
        roll = rng.random()
        base = {"ref": f"{prefix}-{i:06d}", "occurred_at": when}
        if roll < 0.35:
            agency = rng.choice([f"gemeente:{municipality}", "politie", "nla"])
            records.append(
                {
                    **base,
                    "agency": agency,
                    "type": "complaint",
                    "address": address,
                    "landlord_kvk": landlord,
                    "anonymous": agency.startswith("gemeente"),
                    "violations": rng.sample(HOUSING, rng.randint(1, 2)),
                }
            )
        elif roll < 0.55:
            records.append(
                {
                    **base,
                    "agency": f"gemeente:{municipality}",
                    "type": "inspection",
                    "address": address,
                    "landlord_kvk": landlord,
                    "violations": rng.sample(HOUSING, rng.randint(0, 2)),
                    "occupants_found": rng.randint(2, 15),
                    "occupants_registered": rng.randint(0, 4),
                    "follow_up": rng.random() < 0.15,
                }
            )
        elif roll < 0.70:
            records.append(
                {
                    **base,
                    "agency": "nla",
                    "type": "inspection",
                    "address": address,
                    "staffing_agency_kvk": agencies[d % len(agencies)],
                    "violations": rng.sample(LABOUR, rng.randint(1, 2)),
                }
            )
        elif roll < 0.80:
            records.append(
                {
                    **base,
                    "agency": f"gemeente:{municipality}",
                    "type": "sanction",
                    "address": address,
                    "sanction_type": "ADMINISTRATIVE_FINE",
                    "violations": [rng.choice(HOUSING)],
                    "target_kvk": landlord,
                    "amount_eur": float(rng.randrange(1000, 25000)),
                }
            )
        elif roll < 0.83:
            records.append(
                {
                    **base,
                    "agency": "nau",
                    "type": "admission_revoked",
                    "staffing_agency_kvk": rng.choice(agencies),
                    "reason": "LABOUR_LAW_VIOLATIONS",
                }
            )
        else:
            records.append(
                {
                    **base,
                    "agency": rng.choice([f"gemeente:{municipality}", "nla", "politie"]),
                    "type": "case_action",
                    "address": address,
                    "action": rng.choice(ACTIONS),
                }
            )
    return records
