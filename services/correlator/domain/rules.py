"""The fixed tables the correlator needs: legal bases, time limits, competence
(docs/correlation.md#violation-codes).

Who is competent for which code is shared with the agency services (`ketenbus.domain`).

Rules: docs/correlation.md#rule-5, docs/correlation.md#rule-6.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ketenbus.domain import COMPETENT, GEMEENTE
from ketenbus.vocabulary import ViolationCode

LEGAL_BASIS: Final[dict[ViolationCode, str]] = {
    "OVERCROWDING": "Huisvestingswet 2014",
    "UNLICENSED_ROOM_LETTING": "Huisvestingswet 2014 / Omgevingswet",
    "UNSAFE_DWELLING": "Bbl",
    "INTIMIDATION": "Wgv",
    "NO_WRITTEN_LEASE": "Wgv",
    "HOUSING_TIED_TO_JOB": "Wgv",
    "EXCESSIVE_RENT": "Wbh",
    "BRP_NOT_REGISTERED": "Wet BRP",
    "BRP_REGISTRATION_OBSTRUCTED": "Wet BRP / Waadi zorgplicht",
    "UNDERPAYMENT": "Wml",
    "ILLEGAL_EMPLOYMENT": "Wav",
    "SERIOUS_DISADVANTAGE": "Sr (modernisering mensenhandel)",
    "LABOUR_EXPLOITATION": "Sr 273f",
    "HUMAN_TRAFFICKING": "Sr 273f",
    "UNADMITTED_LENDING": "Wtta",
}

#: Rule 6: an open case whose last step is older than this (event time) is stalled.
STALL_AFTER_MS: Final = 30 * 24 * 3600 * 1000
#: Rule 5: look-back window for recidivism, in calendar months.
RECIDIVE_MONTHS: Final = 24


def competent_agencies(codes: Iterable[ViolationCode], gemeente: str | None) -> set[str]:
    """Agencies competent for any of `codes`; the placeholder gemeente becomes `gemeente`."""
    found: set[str] = set()
    for code in codes:
        for agency in COMPETENT.get(code, ()):
            if agency == GEMEENTE:
                if gemeente:
                    found.add(gemeente)
            else:
                found.add(agency)
    return found
