"""Synthetic intake records for benchmarks and tests (deterministic: same n, same record).

Generated BSNs pass the elfproef but come from a range reserved here for test data
(starting with 9), KvK numbers and postcodes are made up.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

_BASE_TIME = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
_HOUSING = ["OVERCROWDING", "INTIMIDATION", "NO_WRITTEN_LEASE", "EXCESSIVE_RENT"]


def synthetic_bsn(n: int) -> str:
    """The n-th elfproef-valid 9-digit number starting with 9 (synthetic BSNs)."""
    candidate = 90_000_000 + n * 7
    while True:
        digits = [int(c) for c in f"{candidate:08d}"]
        check = sum(w * d for w, d in zip(range(9, 1, -1), digits, strict=True)) % 11
        if check < 10:
            return f"{candidate:08d}{check}"
        candidate += 1


def address(n: int, cbs: str = "0599") -> dict[str, Any]:
    return {
        "postcode": f"{3000 + n % 900} {'ab'[n % 2]}{'cd'[n // 2 % 2]}",
        "house_number": 1 + n % 200,
        "house_letter": "a" if n % 3 == 0 else None,
        "addition": None,
        "bag_id": None,
        "municipality_code": cbs,
    }


def kvk(n: int) -> str:
    return f"{10_000_000 + n * 37 % 89_999_999:08d}"


def _time(n: int) -> str:
    return (_BASE_TIME + timedelta(minutes=n)).isoformat().replace("+00:00", "Z")


def record(agency: str, kind: str, n: int, *, prefix: str = "S") -> dict[str, Any]:
    """A valid record of `kind` for `agency` (competent codes only)."""
    cbs = agency.split(":", 1)[1] if agency.startswith("gemeente:") else "0599"
    base: dict[str, Any] = {
        "agency": agency,
        "type": kind,
        "ref": f"{prefix}-{kind}-{n}",
        "occurred_at": _time(n),
    }
    codes = {
        "nla": ["UNDERPAYMENT"],
        "politie": ["HUMAN_TRAFFICKING"],
        "nau": ["UNADMITTED_LENDING"],
    }
    established = codes.get(agency, ["OVERCROWDING"])
    if kind == "complaint":
        return base | {
            "address": address(n, cbs),
            "landlord_kvk": kvk(n),
            "violations": [_HOUSING[n % 4], _HOUSING[(n + 1) % 4]],
            "anonymous": n % 2 == 0,
        }
    if kind == "inspection":
        return base | {
            "address": address(n, cbs),
            "employer_kvk": kvk(n + 1),
            "violations": established,
            "occupants_found": 8 + n % 5,
            "occupants_registered": 2,
            "access_refused": False,
            "follow_up": False,
            "workers": [{"bsn": synthetic_bsn(2 * n)}, {"bsn": synthetic_bsn(2 * n + 1)}],
        }
    if kind == "sanction":
        return base | {
            "sanction_type": "ADMINISTRATIVE_FINE",
            "violations": established,
            "target_kvk": kvk(n),
            "amount_eur": 1000.0 + n,
        }
    if kind.startswith("admission_"):
        reason = {
            "admission_revoked": "LABOUR_LAW_VIOLATIONS",
            "admission_granted": "REQUIREMENTS_MET",
            "admission_suspended": "SECURITY_DEPOSIT_NOT_PROVIDED",
        }[kind]
        return base | {"staffing_agency_kvk": kvk(n), "reason": reason}
    if kind == "case_action":
        return base | {"address": address(n, cbs), "action": "ACKNOWLEDGED"}
    raise ValueError(f"unknown type {kind!r}")


BAD_LINES: tuple[str, ...] = (
    "not json at all",
    '{"agency": "nla", "type": "complaint"}',
    '{"agency": "nla", "type": "complaint", "ref": "X-1", "occurred_at": "2026-05-02T09:30:00",'
    ' "employer_kvk": "12345678"}',
    '{"agency": "nla", "type": "admission_revoked", "ref": "X-2",'
    ' "occurred_at": "2026-05-02T09:30:00Z", "staffing_agency_kvk": "12345678"}',
    '{"agency": "politie", "type": "inspection", "ref": "X-3",'
    ' "occurred_at": "2026-05-02T09:30:00Z", "employer_kvk": "12345678",'
    ' "workers": [{"bsn": "123456789"}]}',
)


def jsonl_lines(
    count: int, *, agency: str = "gemeente:0599", bad_every: int = 0, prefix: str = "S"
) -> Iterator[tuple[str, bool]]:
    """`count` lines of (text, is_valid); every `bad_every`-th line is a bad one."""
    kinds = ("complaint", "inspection", "sanction", "case_action")
    for n in range(1, count + 1):
        if bad_every and n % bad_every == 0:
            yield BAD_LINES[(n // bad_every) % len(BAD_LINES)], False
        else:
            yield json.dumps(record(agency, kinds[n % len(kinds)], n, prefix=prefix)), True
