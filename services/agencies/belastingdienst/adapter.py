"""The `belastingdienst` adapter (the tax office): payroll-tax findings -> intake records.

Scaffolded by `ketenbus new-adapter belastingdienst --kind tax_authority --types
inspection`, then filled in (docs/adding-an-agency.md walks through it). A payroll-tax
audit (boekenonderzoek loonheffingen) of an employer can establish what the backbone
cares about: wages under the statutory minimum, deductions for housing above the legal
maximum, foreign workers without a work permit. The tax office's export has one JSON
object a line, of two kinds (`bericht`):

- `bevinding_loonheffingen`: the findings of an audit -> an `inspection` of the employer
  (`inhoudingsplichtige.kvk`), at the dwelling the payroll deducts housing costs for
  (`huisvestingsadres`) when there is one; findings map to violation codes (BEVINDINGEN),
  purely fiscal findings stay with the tax office (FISCAL_ONLY).
- `vervolgstap`: a step the tax office takes on a case it was notified of -> a
  `case_action` on the dwelling (or, without an address, the employer).

Need-to-know: the payroll-tax number (it contains a sole trader's BSN), the assessed
amounts, the number of workers and the case officer are dropped here and never travel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from intake import AgencyAdapter, FileReader
from intake.native import NativeRecordUnreadable, native_jsonl_reader, native_suffix

AGENCY = "belastingdienst"

#: native message kind (`bericht`) -> intake type
KINDS: dict[str, str] = {
    "bevinding_loonheffingen": "inspection",
    "vervolgstap": "case_action",
}
#: audit finding -> violation code (docs/correlation.md#violation-codes);
#: each maps to at most one code
BEVINDINGEN: dict[str, str] = {
    "ONDERBETALING_WML": "UNDERPAYMENT",  # loon onder het wettelijk minimumloon
    "INHOUDING_HUISVESTING_BOVEN_MAXIMUM": "UNDERPAYMENT",  # onterechte inhoudingen
    "INHOUDINGEN_ZONDER_SCHRIFTELIJKE_VOLMACHT": "UNDERPAYMENT",
    "GEEN_TEWERKSTELLINGSVERGUNNING": "ILLEGAL_EMPLOYMENT",  # Wav
}
#: findings that are the tax office's business only (no violation in the backbone's sense)
FISCAL_ONLY: frozenset[str] = frozenset(
    {
        "NAHEFFING_LOONHEFFINGEN",
        "LOONADMINISTRATIE_ONVOLLEDIG",
        "ANONIEMENTARIEF_TOEGEPAST",
        "TE_LAAT_AANGIFTE",
    }
)
#: follow-up step (`stap`) -> case action
STAPPEN: dict[str, str] = {
    "ONTVANGEN": "ACKNOWLEDGED",
    "BOEKENONDERZOEK_GESTART": "INVESTIGATION_STARTED",
    "BOETEONDERZOEK_GESTART": "INVESTIGATION_STARTED",
    "GEZAMENLIJKE_CONTROLE_GEPLAND": "JOINT_INSPECTION_PLANNED",
    "OVERGEDRAGEN_AAN_FIOD": "REFERRED",
}
#: native address field (in `huisvestingsadres`) -> intake address field
ADDRESS_FIELDS: dict[str, str] = {
    "postcode": "postcode",
    "huisnummer": "house_number",
    "huisletter": "house_letter",
    "toevoeging": "addition",
    "bag_id": "bag_id",
    "gemeentecode": "municipality_code",
}
#: fields each message may have; the IGNORED ones are dropped on purpose (need-to-know)
FIELDS: dict[str, frozenset[str]] = {
    "bevinding_loonheffingen": frozenset(
        {"onderzoeksnummer", "datum", "inhoudingsplichtige", "huisvestingsadres", "bevindingen"}
    ),
    "vervolgstap": frozenset(
        {"onderzoeksnummer", "stapnummer", "datum", "inhoudingsplichtige", "huisvestingsadres"}
        | {"stap"}
    ),
}
IGNORED: frozenset[str] = frozenset(
    {"loonheffingennummer", "naheffing_eur", "werknemers_betrokken", "behandelaar"}
)
#: fields of `inhoudingsplichtige` (the employer); its name is not published
EMPLOYER_FIELDS: frozenset[str] = frozenset({"kvk", "naam"})
#: intake field -> native field, so validation messages name what the tax office knows
FIELD_NAMES: dict[str, str] = {
    "ref": "onderzoeksnummer",
    "occurred_at": "datum",
    "employer_kvk": "inhoudingsplichtige.kvk",
    "target_kvk": "inhoudingsplichtige.kvk",
    "violations": "bevindingen",
    "action": "stap",
    **{f"address.{intake}": f"huisvestingsadres.{n}" for n, intake in ADDRESS_FIELDS.items()},
}


def _address(native: Mapping[str, Any]) -> dict[str, Any] | None:
    address = native.get("huisvestingsadres")
    if address is None:
        return None
    if not isinstance(address, Mapping):
        raise NativeRecordUnreadable("huisvestingsadres must be an object")
    unknown = sorted(set(address) - set(ADDRESS_FIELDS))
    if unknown:
        raise NativeRecordUnreadable(f"unknown huisvestingsadres field(s) {', '.join(unknown)}")
    return {ADDRESS_FIELDS[k]: v for k, v in address.items() if v is not None}


def _employer_kvk(native: Mapping[str, Any]) -> Any:
    employer = native["inhoudingsplichtige"]
    if not isinstance(employer, Mapping):
        raise NativeRecordUnreadable("inhoudingsplichtige must be an object")
    unknown = sorted(set(employer) - EMPLOYER_FIELDS)
    if unknown:
        raise NativeRecordUnreadable(f"unknown inhoudingsplichtige field(s) {', '.join(unknown)}")
    return employer["kvk"]


def violations(findings: Any) -> list[str]:
    """The violation codes of an audit's findings (fiscal-only findings dropped)."""
    if not isinstance(findings, list):
        raise NativeRecordUnreadable("bevindingen must be a list")
    unknown = [f for f in findings if f not in BEVINDINGEN and f not in FISCAL_ONLY]
    if unknown:
        raise NativeRecordUnreadable(f"{len(unknown)} unknown bevinding(en)")
    return list(dict.fromkeys(BEVINDINGEN[f] for f in findings if f in BEVINDINGEN))


def map_native(native: Mapping[str, Any]) -> dict[str, Any]:
    """One message of the tax office's export as an intake record."""
    kind = native["bericht"]
    if kind not in KINDS:
        raise NativeRecordUnreadable(f"unknown bericht (known: {', '.join(KINDS)})")
    unknown = sorted(set(native) - FIELDS[kind] - IGNORED - {"bericht"})
    if unknown:
        raise NativeRecordUnreadable(f"unknown field(s) {', '.join(unknown)} in {kind}")
    address = _address(native)
    record: dict[str, Any] = {"agency": AGENCY, "type": KINDS[kind]}
    if kind == "bevinding_loonheffingen":
        record |= {
            "ref": native["onderzoeksnummer"],
            "occurred_at": native["datum"],
            "employer_kvk": _employer_kvk(native),
            "violations": violations(native.get("bevindingen", [])),
        }
    else:
        step = native["stap"]
        if step not in STAPPEN:
            raise NativeRecordUnreadable(f"unknown stap (known: {', '.join(STAPPEN)})")
        # one audit has many steps: the step number makes each its own event
        record |= {
            "ref": f"{native['onderzoeksnummer']}/{native['stapnummer']}",
            "occurred_at": native["datum"],
            "action": STAPPEN[step],
        }
        if address is None:  # no dwelling: the step acts on the employer's case
            record["target_kvk"] = _employer_kvk(native)
    if address is not None:
        record["address"] = address
    return record


class BelastingdienstAdapter(AgencyAdapter):
    service = "belastingdienst"
    event_types = frozenset(
        {
            "inspection",
        }
    )
    file_readers: ClassVar[dict[str, FileReader]] = {
        native_suffix(AGENCY): native_jsonl_reader(map_native, FIELD_NAMES)
    }
    port = 8085

    def owns(self, agency: str) -> bool:
        return agency == AGENCY


ADAPTER = BelastingdienstAdapter()
