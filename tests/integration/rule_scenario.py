"""A scenario that exercises every correlation rule on its own dwellings and KvK numbers.

All events are in municipality 0363; the last event (2026-06-30) sets the backbone clock,
so "stalled" means: no step since before 2026-05-31.

Rules: docs/correlation.md#rules.
"""

from __future__ import annotations

from typing import Any

GEMEENTE = "gemeente:0363"


def address(postcode: str, number: int) -> dict[str, Any]:
    return {"postcode": postcode, "house_number": number, "municipality_code": "0363"}


def record(agency: str, type_: str, ref: str, day: str, **fields: Any) -> dict[str, Any]:
    return {
        "agency": agency,
        "type": type_,
        "ref": ref,
        "occurred_at": f"{day}T10:00:00+02:00",
        **fields,
    }


def complaint(
    agency: str, ref: str, day: str, where: dict[str, Any] | None, *codes: str, **extra: Any
) -> dict[str, Any]:
    fields = {"violations": list(codes), "anonymous": agency.startswith("gemeente"), **extra}
    if where:
        fields["address"] = where
    return record(agency, "complaint", ref, day, **fields)


def inspection(
    agency: str, ref: str, day: str, where: dict[str, Any], *codes: str, **extra: Any
) -> dict[str, Any]:
    return record(agency, "inspection", ref, day, address=where, violations=list(codes), **extra)


def sanction(
    ref: str, day: str, where: dict[str, Any] | None, target: str, *codes: str
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "sanction_type": "ADMINISTRATIVE_FINE",
        "violations": list(codes),
        "target_kvk": target,
        "amount_eur": 1000.0,
    }
    if where:
        fields["address"] = where
    return record(GEMEENTE, "sanction", ref, day, **fields)


R1_SIGNAL, R1_AGENCIES, R1_ESTABLISHED = (
    address("1011AA", 1),
    address("1011AA", 2),
    address("1011AA", 3),
)
R2_AFTER, R2_BEFORE = address("1011AB", 1), address("1011AB", 2)
R3_ONE, R3_TWO, R3_ALLEGED, R3_SINGLE = (address("1011AC", n) for n in (1, 2, 3, 4))
R5_FIRST, R5_SECOND, R5_OLD, R5_LATE = (address("1011AD", n) for n in (1, 2, 3, 4))
R6_IDLE, R6_ACTED = address("1011AE", 1), address("1011AE", 2)
R7_CLOSED, R7_REOPENED = address("1011AF", 1), address("1011AF", 2)
CLOCK = address("1011ZZ", 9)
BAG_ID = "0363010000000777"
BAG_ADDRESS = {**address("1011AG", 1), "bag_id": BAG_ID}

SCENARIO: list[dict[str, Any]] = [
    # Rule 1
    complaint(
        GEMEENTE,
        "R1-MP-1",
        "2026-06-20",
        R1_SIGNAL,
        "OVERCROWDING",
        "INTIMIDATION",
        "EXCESSIVE_RENT",
    ),
    complaint(GEMEENTE, "R1-MP-2", "2026-06-10", R1_AGENCIES, "OVERCROWDING"),
    complaint("politie", "R1-POL-2", "2026-06-12", R1_AGENCIES, "INTIMIDATION"),
    complaint(GEMEENTE, "R1-MP-3", "2026-06-11", R1_ESTABLISHED, "EXCESSIVE_RENT"),
    inspection(GEMEENTE, "R1-INS-3", "2026-06-15", R1_ESTABLISHED, "OVERCROWDING"),
    # Rule 2: revocation after the link, and before it
    inspection(
        "nla", "R2-NLA-1", "2026-06-01", R2_AFTER, "UNDERPAYMENT", staffing_agency_kvk="90000001"
    ),
    record(
        "nau",
        "admission_revoked",
        "R2-NAU-1",
        "2026-06-05",
        staffing_agency_kvk="90000001",
        reason="LABOUR_LAW_VIOLATIONS",
    ),
    record(
        "nau",
        "admission_revoked",
        "R2-NAU-2",
        "2026-06-02",
        staffing_agency_kvk="90000002",
        reason="LABOUR_LAW_VIOLATIONS",
    ),
    inspection(
        "nla",
        "R2-NLA-2",
        "2026-06-20",
        R2_BEFORE,
        "ILLEGAL_EMPLOYMENT",
        staffing_agency_kvk="90000002",
    ),
    # Rule 3: 90000003 has two dwellings with established violations, 90000004 only one
    inspection(GEMEENTE, "R3-INS-1", "2026-06-14", R3_ONE, "OVERCROWDING", landlord_kvk="90000003"),
    inspection(
        GEMEENTE, "R3-INS-2", "2026-06-16", R3_TWO, "UNSAFE_DWELLING", landlord_kvk="90000003"
    ),
    complaint(
        GEMEENTE, "R3-MP-3", "2026-06-16", R3_ALLEGED, "UNSAFE_DWELLING", landlord_kvk="90000004"
    ),
    inspection(
        GEMEENTE, "R3-INS-4", "2026-06-17", R3_SINGLE, "OVERCROWDING", landlord_kvk="90000004"
    ),
    # Rule 5: 90000005 sanctioned twice within 24 months, 90000006 29 months apart
    sanction("R5-B-1", "2025-01-10", R5_FIRST, "90000005", "OVERCROWDING"),
    sanction("R5-B-2", "2026-06-18", R5_SECOND, "90000005", "UNSAFE_DWELLING"),
    sanction("R5-B-3", "2024-01-02", R5_OLD, "90000006", "OVERCROWDING"),
    sanction("R5-B-4", "2026-06-03", R5_LATE, "90000006", "OVERCROWDING"),
    # Rule 6: opened 2026-05-02; one gets a case_action on 2026-06-10
    complaint("politie", "R6-POL-1", "2026-05-01", R6_IDLE, "INTIMIDATION"),
    inspection(GEMEENTE, "R6-INS-1", "2026-05-02", R6_IDLE, "OVERCROWDING"),
    complaint("politie", "R6-POL-2", "2026-05-01", R6_ACTED, "INTIMIDATION"),
    inspection(GEMEENTE, "R6-INS-2", "2026-05-02", R6_ACTED, "OVERCROWDING"),
    record(
        GEMEENTE,
        "case_action",
        "R6-ACT-2",
        "2026-06-10",
        address=R6_ACTED,
        action="INVESTIGATION_STARTED",
    ),
    # Rule 7: closed by a clean follow-up; the other reopened by a later violation
    complaint("politie", "R7-POL-1", "2026-06-01", R7_CLOSED, "INTIMIDATION"),
    inspection(GEMEENTE, "R7-INS-1", "2026-06-02", R7_CLOSED, "OVERCROWDING"),
    inspection(GEMEENTE, "R7-FU-1", "2026-06-05", R7_CLOSED, follow_up=True),
    complaint("politie", "R7-POL-2", "2026-06-01", R7_REOPENED, "INTIMIDATION"),
    inspection(GEMEENTE, "R7-INS-2", "2026-06-02", R7_REOPENED, "OVERCROWDING"),
    inspection(GEMEENTE, "R7-FU-2", "2026-06-05", R7_REOPENED, follow_up=True),
    complaint("politie", "R7-POL-3", "2026-06-08", R7_REOPENED, "INTIMIDATION"),
    # A BAG id given with an address is its alias: the BAG-only complaint joins that case
    complaint("politie", "BAG-POL-1", "2026-06-21", {"bag_id": BAG_ID}, "INTIMIDATION"),
    inspection(GEMEENTE, "BAG-INS-1", "2026-06-22", BAG_ADDRESS, "OVERCROWDING"),
    # The backbone clock
    complaint(GEMEENTE, "CLOCK-1", "2026-06-30", CLOCK, "EXCESSIVE_RENT"),
]


def dwelling(where: dict[str, Any]) -> str:
    return f"dwelling:{where['postcode']}-{where['house_number']}"
