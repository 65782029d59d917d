"""Who is competent for what: the violation-code table (docs/correlation.md#violation-codes),
shared by the agency services (which may only establish what they are competent for) and
the correlator (which notifies the competent agencies).
"""

from __future__ import annotations

from typing import Final, Literal

from ketenbus.agencies import is_gemeente
from ketenbus.vocabulary import SanctionType, ViolationCode, is_violation_code

#: The agency kinds the competence table names: "gemeente" stands for the municipality
#: (any `gemeente:<cbs>`); the others are the national agencies.
CompetentKind = Literal["gemeente", "nla", "politie", "nau"]
GEMEENTE: Final = "gemeente"

#: Every violation code and who is competent for it (a unit test checks it covers the
#: Avro enum).
COMPETENT: Final[dict[ViolationCode, tuple[CompetentKind, ...]]] = {
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
SANCTION_AUTHORITY: Final[dict[SanctionType, tuple[CompetentKind, ...]]] = {
    "ADMISSION_REVOKED": ("nau",),
}


def is_competent(agency: str, code: str) -> bool:
    """Whether `agency` (e.g. `gemeente:0599`, `nla`) is competent for violation `code`."""
    kind = GEMEENTE if is_gemeente(agency) else agency
    return is_violation_code(code) and kind in COMPETENT[code]


def may_impose(agency: str, sanction_type: str) -> bool:
    """Whether `agency` can impose a sanction of this type (only NAU revokes admissions)."""
    kind = GEMEENTE if is_gemeente(agency) else agency
    authorities = next(
        (who for typ, who in SANCTION_AUTHORITY.items() if typ == sanction_type), None
    )
    return authorities is None or kind in authorities
