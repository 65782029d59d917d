"""The adapter SDK: what every agency service gets for free.

An agency service declares an `AgencyAdapter` (which agency codes it owns, which event
types they may publish, optional checks and native file readers) and exposes it as
`ADAPTER` in its package; validation (`models`), normalisation (`ketenbus.normalise`),
event mapping (`events`), publishing and dead letters (`publisher`), metrics, health and
the HTTP intake API (`app`) come from here. See README, "Agency services".
"""

from intake.base import UNIVERSAL_TYPES, AgencyAdapter, FileReader, IntakeItem
from intake.errors import (
    AdapterError,
    AgencyMismatch,
    AgencyNotServed,
    InvalidRecord,
    MalformedRecord,
    NotCompetent,
    OutsideMunicipality,
    RecordRejected,
    TypeNotAllowed,
    UnreadableFile,
)
from intake.models import AnyRecord, FieldError

__all__ = [
    "UNIVERSAL_TYPES",
    "AdapterError",
    "AgencyAdapter",
    "AgencyMismatch",
    "AgencyNotServed",
    "AnyRecord",
    "FieldError",
    "FileReader",
    "IntakeItem",
    "InvalidRecord",
    "MalformedRecord",
    "NotCompetent",
    "OutsideMunicipality",
    "RecordRejected",
    "TypeNotAllowed",
    "UnreadableFile",
]
