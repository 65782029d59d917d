"""Who is competent for what: the violation-code table of DESIGN.md, shared by the agency
services (which may only establish what they are competent for) and the correlator
(which notifies the competent agencies).
"""

from __future__ import annotations

from typing import Final

from ketenbus.agencies import is_gemeente

#: Stands for "the municipality" (any `gemeente:<cbs>`) in the competence table.
GEMEENTE: Final = "gemeente"

COMPETENT: Final[dict[str, tuple[str, ...]]] = {
    "OVERCROWDING": (GEMEENTE,),
    "UNLICENSED_ROOM_LETTING": (GEMEENTE,),
    "UNSAFE_DWELLING": (GEMEENTE,),
    "INTIMIDATION": (GEMEENTE, "politie"),
    "NO_WRITTEN_LEASE": (GEMEENTE,),
    "HOUSING_TIED_TO_JOB": (GEMEENTE, "nla"),
    "EXCESSIVE_RENT": (GEMEENTE,),
    "BRP_NOT_REGISTERED": (GEMEENTE,),
    "BRP_REGISTRATION_OBSTRUCTED": (GEMEENTE, "nau"),
    "UNDERPAYMENT": ("nla",),
    "ILLEGAL_EMPLOYMENT": ("nla",),
    "SERIOUS_DISADVANTAGE": ("nla",),
    "LABOUR_EXPLOITATION": ("nla", "politie"),
    "HUMAN_TRAFFICKING": ("politie", "nla"),
    "UNADMITTED_LENDING": ("nau", "nla"),
}

#: Sanction types only some agencies can impose (the rest: any agency that may sanction).
SANCTION_AUTHORITY: Final[dict[str, tuple[str, ...]]] = {
    "ADMISSION_REVOKED": ("nau",),
}


def is_competent(agency: str, code: str) -> bool:
    """Whether `agency` (e.g. `gemeente:0599`, `nla`) is competent for violation `code`."""
    kind = GEMEENTE if is_gemeente(agency) else agency
    return kind in COMPETENT.get(code, ())


def may_impose(agency: str, sanction_type: str) -> bool:
    """Whether `agency` can impose a sanction of this type (only NAU revokes admissions)."""
    kind = GEMEENTE if is_gemeente(agency) else agency
    authorities = SANCTION_AUTHORITY.get(sanction_type)
    return authorities is None or kind in authorities
