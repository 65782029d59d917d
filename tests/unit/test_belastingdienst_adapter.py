"""The belastingdienst adapter without a broker: payroll-tax findings map to inspections
and follow-up steps to case actions, fiscal details never leave the tax office, and the
service publishes only its own agency's allowed types.

Scaffolded by `ketenbus new-adapter belastingdienst`, then extended for its native format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import agencies.belastingdienst as belastingdienst
from agencies.belastingdienst import ADAPTER, map_native
from agencies.belastingdienst.adapter import FIELD_NAMES
from devtools.samples import record
from intake import InvalidRecord, MalformedRecord, TypeNotAllowed
from intake.base import IntakeItem
from intake.core import Intake, PreparedEvent
from intake.files import read_jsonl, reader_for
from intake.native import NativeRecordUnreadable, map_line
from intake.registry import AdapterRegistry
from ketenbus.pseudonyms import Pseudonymiser
from ketenbus.settings import get_settings
from ketenbus.topics.spec import load_topics

AGENCY = "belastingdienst"
SAMPLE = Path(belastingdienst.__file__).parent / "samples" / "sample.belastingdienst.jsonl"
SAMPLES: list[dict[str, Any]] = [
    json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()
]
AUDIT, AUDIT_NO_ADDRESS, STEP = SAMPLES
ALLOWED = {"inspection", "case_action"}
FORBIDDEN = ["complaint", "sanction", "admission_revoked", "admission_granted"]


@pytest.fixture(scope="module")
def intake() -> Intake:
    spec = load_topics(get_settings().topics_file)
    return Intake(AdapterRegistry([ADAPTER], spec), Pseudonymiser(b"unit-test-key"))


def prepare(intake: Intake, data: dict[str, Any]) -> PreparedEvent:
    return intake.prepare(IntakeItem(payload=json.dumps(data).encode(), original=b""))


class TestFindings:
    """An audit's findings become an inspection of the employer at the housing address."""

    def test_audit_with_housing_address(self) -> None:
        assert {
            "agency": AGENCY,
            "type": "inspection",
            "ref": "LH-2026-000417",
            "occurred_at": "2026-05-06T14:30:00+02:00",
            "employer_kvk": "90005678",
            "violations": ["UNDERPAYMENT", "ILLEGAL_EMPLOYMENT"],
            "address": {
                "postcode": "3083 AB",
                "house_number": 12,
                "house_letter": "a",
                "municipality_code": "0599",
            },
        } == map_native(AUDIT)

    def test_audit_without_address_is_about_the_employer(self, intake: Intake) -> None:
        prepared = prepare(intake, map_native(AUDIT_NO_ADDRESS))
        assert ("90006789", None, ["UNDERPAYMENT"]) == (
            prepared.outgoing.key,
            prepared.record.address,
            [str(v) for v in prepared.record.violations],
        )

    def test_fiscal_only_findings_are_an_inspection_without_violations(self) -> None:
        native = AUDIT | {"bevindingen": ["NAHEFFING_LOONHEFFINGEN", "TE_LAAT_AANGIFTE"]}
        assert [] == map_native(native)["violations"]

    def test_unknown_finding_is_unreadable(self) -> None:
        with pytest.raises(NativeRecordUnreadable, match="1 unknown bevinding"):
            map_native(AUDIT | {"bevindingen": ["ZWART_LOON"]})

    def test_fiscal_details_never_travel(self, intake: Intake) -> None:
        prepared = prepare(intake, map_native(AUDIT))
        published = prepared.outgoing.value + b"".join(
            v if isinstance(v, bytes) else v.encode() for _, v in prepared.outgoing.headers
        )
        leaked = [
            s for s in ("999999990", "48200", "Voorbeeld Uitzendgroep") if s.encode() in published
        ]
        assert [] == leaked


class TestFollowUpSteps:
    """A follow-up step is a case action on the dwelling, or else on the employer."""

    def test_step_on_the_dwelling(self, intake: Intake) -> None:
        prepared = prepare(intake, map_native(STEP))
        assert ("case_action", "LH-2026-000417/2", "INVESTIGATION_STARTED", "3083AB-12-A") == (
            prepared.record.type,
            prepared.record.ref,
            str(prepared.record.action),
            prepared.outgoing.key,
        )

    def test_step_without_address_acts_on_the_employer(self) -> None:
        native = {k: v for k, v in STEP.items() if k != "huisvestingsadres"}
        assert ("90005678", None) == (
            map_native(native)["target_kvk"],
            map_native(native).get("address"),
        )

    def test_unknown_step_is_unreadable(self) -> None:
        with pytest.raises(NativeRecordUnreadable, match="stap"):
            map_native(STEP | {"stap": "KOFFIE_GEDRONKEN"})


class TestNativeFile:
    """The export file is read through the native reader; a bad line is a rejected line."""

    def test_native_suffix_selects_the_native_reader(self) -> None:
        reader = reader_for(Path("export-mei.belastingdienst.jsonl"), [ADAPTER])
        assert ADAPTER.file_readers[".belastingdienst.jsonl"] is reader

    def test_plain_jsonl_stays_canonical(self) -> None:
        assert read_jsonl is reader_for(Path("records.jsonl"), [ADAPTER])

    def test_each_sample_line_is_prepared_on_the_source_topic(self, intake: Intake) -> None:
        reader = ADAPTER.file_readers[".belastingdienst.jsonl"]
        prepared = [intake.prepare(item) for item in reader(SAMPLE)]
        assert [("events.belastingdienst", n["onderzoeksnummer"]) for n in SAMPLES] == [
            (p.outgoing.topic, p.record.ref.split("/")[0]) for p in prepared
        ]

    def test_unknown_field_is_a_malformed_line(self) -> None:
        line = json.dumps(AUDIT | {"bsn_werknemer": "999999990"}).encode()
        with pytest.raises(MalformedRecord, match="bsn_werknemer"):
            map_line(line, map_native)

    def test_invalid_value_names_the_native_field(self, intake: Intake) -> None:
        data = map_native(AUDIT | {"inhoudingsplichtige": {"kvk": "1234"}})
        item = IntakeItem(payload=json.dumps(data).encode(), original=b"", field_names=FIELD_NAMES)
        with pytest.raises(InvalidRecord) as refused:
            intake.prepare(item)
        assert ["inhoudingsplichtige.kvk"] == [e.field for e in refused.value.errors]


class TestAdapter:
    """The adapter owns only `belastingdienst`, carries its OIN and refuses foreign types."""

    def test_owns_only_its_agency(self) -> None:
        assert (True, False, False) == (
            ADAPTER.owns(AGENCY),
            ADAPTER.owns("nla"),
            ADAPTER.owns("gemeente:0599"),
        )

    def test_allowed_types(self) -> None:
        assert ALLOWED == set(ADAPTER.allowed_types)

    def test_cloudevents_source_names_its_oin(self, intake: Intake) -> None:
        oin = load_topics(get_settings().topics_file).agency(AGENCY).oin
        headers = dict(prepare(intake, map_native(AUDIT)).outgoing.headers)
        assert f"urn:nld:oin:{oin}:systeem:ketenbus-belastingdienst" == headers["ce_source"]

    @pytest.mark.parametrize("kind", FORBIDDEN)
    def test_forbidden_type_is_refused(self, intake: Intake, kind: str) -> None:
        with pytest.raises(TypeNotAllowed):
            prepare(intake, record(AGENCY, kind, 1))
