"""The typed vocabulary agrees with the Avro schemas it mirrors, symbol for symbol."""

from __future__ import annotations

import json
from typing import Any, get_args, get_type_hints

import pytest

from correlator.domain.events import EVENT_TYPES, EventType
from correlator.domain.rules import LEGAL_BASIS
from ketenbus.domain import COMPETENT, SANCTION_AUTHORITY, is_competent, may_impose
from ketenbus.settings import PROJECT_ROOT
from ketenbus.vocabulary import AVRO_ENUMS, AVRO_RECORDS, VIOLATION_CODES, ViolationCode

SCHEMAS = PROJECT_ROOT / "schemas"


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}.avsc").read_text())
    return loaded


class TestAvroEnums:
    """Every Literal names exactly its Avro enum's symbols, in the schema's order."""

    @pytest.mark.parametrize("name", sorted(AVRO_ENUMS))
    def test_literal_matches_schema(self, name: str) -> None:
        assert schema(name)["symbols"] == list(get_args(AVRO_ENUMS[name]))

    def test_every_enum_schema_has_a_literal(self) -> None:
        enums = {
            path.stem for path in SCHEMAS.glob("*.avsc") if schema(path.stem)["type"] == "enum"
        }
        assert enums == set(AVRO_ENUMS)


class TestAvroRecords:
    """Every TypedDict has exactly its Avro record's fields."""

    @pytest.mark.parametrize("name", sorted(AVRO_RECORDS))
    def test_fields_match_schema(self, name: str) -> None:
        fields = [field["name"] for field in schema(name)["fields"]]
        assert fields == list(get_type_hints(AVRO_RECORDS[name]))


class TestTables:
    """The domain tables cover every violation code and name only known values."""

    def test_competence_covers_every_code(self) -> None:
        assert VIOLATION_CODES == set(COMPETENT)

    def test_legal_basis_covers_every_code(self) -> None:
        assert VIOLATION_CODES == set(LEGAL_BASIS)

    def test_sanction_authority_names_sanction_types(self) -> None:
        assert set(SANCTION_AUTHORITY) <= set(get_args(AVRO_ENUMS["nl.ketenbus.SanctionType"]))

    def test_unknown_code_is_nobodys(self) -> None:
        assert (False, True) == (
            is_competent("nla", "NOT_A_CODE"),
            is_competent("nla", "UNDERPAYMENT"),
        )

    def test_only_nau_revokes_admission(self) -> None:
        assert (True, False, True) == (
            may_impose("nau", "ADMISSION_REVOKED"),
            may_impose("gemeente:0599", "ADMISSION_REVOKED"),
            may_impose("gemeente:0599", "PENALTY_ORDER"),
        )

    def test_violation_codes_literal_is_the_set(self) -> None:
        assert VIOLATION_CODES == set(get_args(ViolationCode))


class TestEventTypes:
    """The correlator's event types come from agency event schemas that exist."""

    def test_every_schema_exists(self) -> None:
        assert [] == [name for name in EVENT_TYPES if not (SCHEMAS / f"{name}.avsc").is_file()]

    def test_every_event_type_has_a_schema(self) -> None:
        assert set(get_args(EventType)) == set(EVENT_TYPES.values())
