"""Unit tests of the adapter SDK's pure part: intake validation, routing, authorisation,
event mapping, headers, redaction and the pseudonym key (no broker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from devtools.samples import record, synthetic_bsn
from intake import IntakeItem, RecordRejected
from intake.core import Intake, PreparedEvent
from intake.errors import (
    AgencyMismatch,
    AgencyNotServed,
    InvalidRecord,
    MalformedRecord,
    NotCompetent,
    TypeNotAllowed,
)
from intake.events import event_id
from intake.models import FieldError, format_errors, parse_record
from intake.redact import BLANK, redact, scrub_text
from intake.registry import AdapterRegistry
from ketenbus.contracts.codec import get_codec
from ketenbus.pseudonyms import (
    Pseudonymiser,
    PseudonymKeyMissing,
    PseudonymKeyTooShort,
    pseudonym_key,
)
from ketenbus.settings import Settings

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PSEUDO = Pseudonymiser(b"unit-test-key-of-at-least-32-bytes!!")

ALLOWED = {
    "gemeente:0599": ("complaint", "inspection", "sanction", "case_action"),
    "nla": ("complaint", "inspection", "sanction", "case_action"),
    "politie": ("complaint", "inspection", "sanction", "case_action"),
    "nau": (
        "sanction",
        "admission_revoked",
        "admission_granted",
        "admission_suspended",
        "case_action",
    ),
}
ALL_TYPES = (
    "complaint",
    "inspection",
    "sanction",
    "admission_revoked",
    "admission_granted",
    "admission_suspended",
    "case_action",
)
FORBIDDEN = [(a, t) for a, types in ALLOWED.items() for t in ALL_TYPES if t not in types]


@pytest.fixture(scope="module")
def intake() -> Intake:
    return Intake(AdapterRegistry.load(), PSEUDO, clock=lambda: NOW)


def item(data: dict[str, Any] | str, line: int | None = None) -> IntakeItem:
    raw = (data if isinstance(data, str) else json.dumps(data)).encode()
    return IntakeItem(payload=raw, original=raw, line=line)


def errors_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        parse_record(json.dumps(data))
    return [str(e) for e in format_errors(caught.value)]


def complaint(**changes: Any) -> dict[str, Any]:
    return record("gemeente:0599", "complaint", 1) | changes


class TestIntakeValidation:
    """Records are validated strictly, with one message per field."""

    def test_design_example_normalises(self) -> None:
        data = {
            "agency": "gemeente:0599",
            "type": "complaint",
            "ref": "MP-2026-0142",
            "occurred_at": "2026-05-02T11:30:00+02:00",
            "address": {
                "postcode": "3083 ab",
                "house_number": 12,
                "house_letter": "a",
                "addition": None,
                "bag_id": None,
                "municipality_code": "0599",
            },
            "landlord_kvk": "1234 5678",
            "violations": ["OVERCROWDING", "INTIMIDATION"],
            "anonymous": True,
        }
        parsed = parse_record(json.dumps(data))
        actual = (parsed.key, parsed.occurred_at, parsed.landlord_kvk)
        assert ("3083AB-12-A", datetime(2026, 5, 2, 9, 30, tzinfo=UTC), "12345678") == actual

    def test_unknown_field_rejected(self) -> None:
        assert ["naam: Extra inputs are not permitted"] == errors_of(complaint(naam="Jan"))

    def test_unknown_address_field_rejected(self) -> None:
        data = complaint(address={"postcode": "3083AB", "house_number": 1, "straat": "x"})
        assert ["address.straat: Extra inputs are not permitted"] == errors_of(data)

    def test_precise_messages_per_field(self) -> None:
        data = complaint(
            occurred_at="2026-05-02T09:30:00",
            address={"postcode": "0123 AB", "house_number": "12"},
            landlord_kvk="1234",
        )
        expected = [
            "occurred_at: timestamp has no time zone: expected ISO 8601 with a zone"
            " (e.g. 2026-05-02T09:30:00Z or +02:00)",
            "address.postcode: invalid postcode: expected 4 digits not starting with 0"
            " and 2 letters (e.g. 3083AB)",
            "address.house_number: Input should be a valid integer",
            "landlord_kvk: invalid KvK number: expected exactly 8 digits",
        ]
        assert expected == errors_of(data)

    def test_unknown_type(self) -> None:
        assert [
            "type: expected one of complaint, inspection, sanction, admission_revoked,"
            " admission_granted, admission_suspended, case_action"
        ] == errors_of(complaint(type="melding"))

    def test_unknown_violation_code(self) -> None:
        assert ["violations[1]"] == [
            e.split(":")[0] for e in errors_of(complaint(violations=["OVERCROWDING", "X"]))
        ]

    def test_bsn_error_names_worker_not_value(self) -> None:
        data = record("nla", "inspection", 1) | {"workers": [{"bsn": "123456789"}]}
        assert ["workers[0].bsn: invalid BSN: fails the elfproef (check digit)"] == errors_of(data)

    def test_subject_required(self) -> None:
        data = complaint()
        del data["address"], data["landlord_kvk"]
        expected = "(record): a complaint needs an address or a KvK number"
        assert [f"{expected} (landlord/staffing_agency/employer)"] == errors_of(data)

    def test_address_needs_number_with_postcode(self) -> None:
        expected = ["address: an address needs both postcode and house_number (or only a bag_id)"]
        assert expected == errors_of(complaint(address={"postcode": "3083AB"}))

    def test_bag_only_address_key(self) -> None:
        parsed = parse_record(json.dumps(complaint(address={"bag_id": "0599010000012345"})))
        assert "BAG-0599010000012345" == parsed.key

    def test_strict_bool(self) -> None:
        assert ["anonymous: Input should be a valid boolean"] == errors_of(
            complaint(anonymous="yes")
        )

    def test_admission_requires_staffing_agency(self) -> None:
        data = record("nau", "admission_revoked", 1)
        del data["staffing_agency_kvk"]
        assert ["staffing_agency_kvk: Field required"] == errors_of(data)

    def test_case_action_requires_subject(self) -> None:
        data = record("nla", "case_action", 1)
        del data["address"]
        assert [
            "(record): a case_action needs the subject it acts on: address or target_kvk"
        ] == errors_of(data)

    def test_duplicate_violations_collapse(self) -> None:
        parsed = parse_record(json.dumps(complaint(violations=["OVERCROWDING", "OVERCROWDING"])))
        assert ["OVERCROWDING"] == [str(v) for v in parsed.violations]  # type: ignore[union-attr]


class TestAuthorisation:
    """Each agency publishes only its own types, codes it is competent for, as itself."""

    @pytest.mark.parametrize(("agency", "kind"), [(a, t) for a, ts in ALLOWED.items() for t in ts])
    def test_allowed(self, intake: Intake, agency: str, kind: str) -> None:
        prepared = intake.prepare(item(record(agency, kind, 7)))
        assert (agency, kind) == (prepared.record.agency, prepared.record.type)

    @pytest.mark.parametrize(("agency", "kind"), FORBIDDEN)
    def test_forbidden_type(self, intake: Intake, agency: str, kind: str) -> None:
        with pytest.raises(TypeNotAllowed):
            intake.prepare(item(record(agency, kind, 7)))

    def test_every_municipality_code_works(self, intake: Intake) -> None:
        refs = [
            intake.prepare(item(record(f"gemeente:{c:04d}", "complaint", 1))).record.agency
            for c in (1, 14, 1990)
        ]
        assert ["gemeente:0001", "gemeente:0014", "gemeente:1990"] == refs

    def test_joint_inspection_may_establish_any_code(self, intake: Intake) -> None:
        data = record("politie", "inspection", 1) | {"violations": ["OVERCROWDING"]}
        assert ("OVERCROWDING",) == tuple(intake.prepare(item(data)).record.violations)

    def test_complaint_may_allege_any_code(self, intake: Intake) -> None:
        data = record("politie", "complaint", 1) | {"violations": ["OVERCROWDING", "UNDERPAYMENT"]}
        assert "complaint" == intake.prepare(item(data)).record.type

    def test_only_nau_revokes_admission_by_sanction(self, intake: Intake) -> None:
        data = record("nla", "sanction", 1) | {"sanction_type": "ADMISSION_REVOKED"}
        with pytest.raises(NotCompetent, match="may not impose ADMISSION_REVOKED"):
            intake.prepare(item(data))

    def test_address_keeps_its_own_municipality(self, intake: Intake) -> None:
        data = record("gemeente:0599", "complaint", 1)
        data["address"]["municipality_code"] = "0363"
        prepared = intake.prepare(item(data))
        assert "0363" == prepared.record.address.municipality_code  # type: ignore[union-attr]

    def test_municipality_code_filled_in(self, intake: Intake) -> None:
        data = record("gemeente:0363", "complaint", 1)
        data["address"]["municipality_code"] = None
        prepared = intake.prepare(item(data))
        assert "0363" == prepared.record.address.municipality_code  # type: ignore[union-attr]

    def test_endpoint_of_other_municipality(self, intake: Intake) -> None:
        with pytest.raises(AgencyMismatch):
            intake.prepare(
                item(record("gemeente:0599", "complaint", 1)), expected_agency="gemeente:0363"
            )

    def test_unknown_agency_not_served(self, intake: Intake) -> None:
        with pytest.raises(AgencyNotServed):
            intake.prepare(item(record("douane", "complaint", 1)))

    def test_service_serves_only_its_agency(self) -> None:
        only_nla = Intake(AdapterRegistry.load(["nla"]), PSEUDO, clock=lambda: NOW)
        with pytest.raises(AgencyNotServed):
            only_nla.prepare(item(record("politie", "complaint", 1)))

    def test_rejections_carry_status(self, intake: Intake) -> None:
        statuses = []
        for bad in (
            "{",
            json.dumps(complaint(ref="")),
            json.dumps(record("nla", "admission_granted", 1)),
        ):
            with pytest.raises(RecordRejected) as caught:
                intake.prepare(item(bad))
            statuses.append((type(caught.value), caught.value.status))
        assert [(MalformedRecord, 400), (InvalidRecord, 422), (TypeNotAllowed, 403)] == statuses


class TestEventMapping:
    """Validated records become the Avro events of schemas/, keyed and with headers."""

    def prepare(self, intake: Intake, agency: str, kind: str, n: int = 3) -> PreparedEvent:
        return intake.prepare(item(record(agency, kind, n)))

    def decoded(self, prepared: PreparedEvent) -> dict[str, Any]:
        return get_codec().decode(prepared.outgoing.value).record

    def test_event_id_deterministic(self, intake: Intake) -> None:
        first = self.prepare(intake, "nla", "complaint")
        again = self.prepare(intake, "nla", "complaint")
        assert (first.event_id, event_id("nla", "S-complaint-3")) == (
            again.event_id,
            first.event_id,
        )

    def test_event_id_differs_by_agency(self) -> None:
        assert event_id("nla", "R-1") != event_id("politie", "R-1")

    def test_complaint(self, intake: Intake) -> None:
        prepared = self.prepare(intake, "gemeente:0599", "complaint")
        event = self.decoded(prepared)
        actual = (
            prepared.event_type.schema,
            event["violations"],
            event["anonymous"],
            event["recorded_at"],
        )
        assert (
            "nl.ketenbus.events.Complaint",
            ["EXCESSIVE_RENT", "OVERCROWDING"],
            False,
            NOW,
        ) == actual

    def test_inspection_pseudonymises_workers(self, intake: Intake) -> None:
        prepared = self.prepare(intake, "nla", "inspection")
        event = self.decoded(prepared)
        expected = sorted([PSEUDO.bsn(synthetic_bsn(6)), PSEUDO.bsn(synthetic_bsn(7))])
        assert expected == event["worker_pseudonyms"]

    def test_no_bsn_in_bytes(self, intake: Intake) -> None:
        prepared = self.prepare(intake, "nla", "inspection")
        raw = prepared.outgoing.value + b"".join(
            v if isinstance(v, bytes) else v.encode() for _, v in prepared.outgoing.headers
        )
        assert [] == [b for b in (synthetic_bsn(6), synthetic_bsn(7)) if b.encode() in raw]

    @pytest.mark.parametrize(
        ("kind", "change"),
        [
            ("admission_revoked", "REVOKED"),
            ("admission_granted", "GRANTED"),
            ("admission_suspended", "SUSPENDED"),
        ],
    )
    def test_admission_changed(self, intake: Intake, kind: str, change: str) -> None:
        prepared = self.prepare(intake, "nau", kind)
        event = self.decoded(prepared)
        actual = (prepared.event_type.schema, event["change"], prepared.outgoing.key)
        assert (
            "nl.ketenbus.events.AdmissionChanged",
            change,
            event["staffing_agency_kvk"],
        ) == actual

    def test_sanction_keyed_by_target_without_address(self, intake: Intake) -> None:
        prepared = self.prepare(intake, "politie", "sanction")
        event = self.decoded(prepared)
        actual = (event["sanction_type"], event["violations"], prepared.outgoing.key)
        assert ("ADMINISTRATIVE_FINE", ["HUMAN_TRAFFICKING"], event["target_kvk"]) == actual

    def test_case_action(self, intake: Intake) -> None:
        prepared = self.prepare(intake, "gemeente:0599", "case_action")
        event = self.decoded(prepared)
        assert ("ACKNOWLEDGED", event["address"]["key"]) == (event["action"], prepared.outgoing.key)

    def test_topic(self, intake: Intake) -> None:
        assert (
            "events.gemeente.0518"
            == self.prepare(intake, "gemeente:0518", "complaint").outgoing.topic
        )

    def test_cloudevents_headers(self, intake: Intake) -> None:
        prepared = self.prepare(intake, "gemeente:0599", "complaint")
        headers = dict(prepared.outgoing.headers)
        fingerprint = get_codec().fingerprint_of("nl.ketenbus.events.Complaint").hex()
        expected = {
            "ce_id": prepared.event_id,
            "ce_source": "urn:nld:oin:00000001000005990000:systeem:ketenbus-gemeente",
            "ce_type": "nl.ketenbus.complaint.v1",
            "ce_time": "2026-05-01T08:03:00.000Z",
            "ce_specversion": "1.0",
            "ce_dataschema": f"urn:avro:nl.ketenbus.events.Complaint:{fingerprint}",
            "content-type": "application/avro",
        }
        assert expected == headers

    def test_unlisted_municipality_oin_from_pattern(self, intake: Intake) -> None:
        headers = dict(self.prepare(intake, "gemeente:1680", "complaint").outgoing.headers)
        assert "urn:nld:oin:00000001000016800000:systeem:ketenbus-gemeente" == headers["ce_source"]


class TestRedaction:
    """Dead-lettered records keep their structure but no person value in any form."""

    def test_untouched_without_person_data(self) -> None:
        raw = json.dumps(complaint()).encode()
        assert (raw, None) == redact(raw, PSEUDO)

    def test_worker_bsn_pseudonymised(self) -> None:
        bsn = synthetic_bsn(1)
        raw = json.dumps({"workers": [{"bsn": bsn}], "ref": "R"}).encode()
        value, how = redact(raw, PSEUDO)
        expected = {"workers": [{"bsn": "pseudonym:" + PSEUDO.bsn(bsn)}], "ref": "R"}
        assert (expected, "bsn-pseudonymised") == (json.loads(value or b""), how)

    def test_unknown_fields_blanked(self) -> None:
        raw = json.dumps(complaint(burgerservicenummer=111222333, naam="Jan de Vries")).encode()
        value, how = redact(raw, PSEUDO)
        kept = json.loads(value or b"")
        assert ((BLANK, BLANK), "unknown-fields-blanked") == (
            (kept["burgerservicenummer"], kept["naam"]),
            how,
        )

    @pytest.mark.parametrize(
        "form",
        ["111222333", "111 222 333", "1112.22.333", "111-222-333", "bsn:111222333"],
    )
    def test_bsn_shapes_in_known_fields_blanked(self, form: str) -> None:
        raw = json.dumps(complaint(ref=form)).encode()
        value, how = redact(raw, PSEUDO)
        assert (False, "bsn-shaped-values-blanked") == ("111" in (value or b"").decode(), how)

    @pytest.mark.parametrize("number", [111222333, 111222333.0, 1.11222333e8, 11222333])
    def test_bsn_as_number_blanked(self, number: float) -> None:
        raw = json.dumps(complaint(landlord_kvk=number)).encode()
        value, _ = redact(raw, PSEUDO)
        assert BLANK == json.loads(value or b"")["landlord_kvk"]

    def test_bsn_as_json_key_replaced(self) -> None:
        raw = json.dumps(complaint() | {"111222333": "x"}).encode()
        value, how = redact(raw, PSEUDO)
        assert (b"111222333" in (value or b""), "unknown-fields-blanked") == (False, how)

    def test_invalid_values_blanked(self) -> None:
        raw = json.dumps(complaint(address={"postcode": "Jan de Vries", "house_number": 1}))
        errors = [FieldError("postcode", "invalid postcode", "address.postcode")]
        value, how = redact(raw.encode(), PSEUDO, errors)
        assert (BLANK, "invalid-values-blanked") == (
            json.loads(value or b"")["address"]["postcode"],
            how,
        )

    def test_free_text_blanked(self) -> None:
        raw = json.dumps(record("nau", "admission_revoked", 1) | {"reason": "Jan, 111222333"})
        value, how = redact(raw.encode(), PSEUDO)
        assert (BLANK, "free-text-blanked") == (json.loads(value or b"")["reason"], how)

    @pytest.mark.parametrize(
        "raw", [b"broken 111222333 {", b"[1, 2]", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000]
    )
    def test_unparseable_content_dropped(self, raw: bytes) -> None:
        assert (None, "content-dropped-unparseable") == redact(raw, PSEUDO)

    def test_scrub_text(self) -> None:
        assert f"ref {BLANK} and {BLANK}" == scrub_text("ref 111222333 and 111 222 333")


class TestPseudonymKey:
    """The pseudonym key fails closed: configured, or a random key generated into the
    secrets directory in dev/test; never a built-in key."""

    def test_dev_generates_random_key_once(self, tmp_path: Path) -> None:
        settings = Settings(environment="dev", pseudonym_key=None, home=tmp_path)
        first = pseudonym_key(settings)
        again = pseudonym_key(settings)
        other = pseudonym_key(Settings(environment="dev", home=tmp_path / "other"))
        mode = (settings.secrets_dir / "pseudonym.key").stat().st_mode & 0o777
        assert (64, True, False, 0o600) == (len(first), first == again, first == other, mode)

    def test_prod_without_key_refuses(self, tmp_path: Path) -> None:
        with pytest.raises(PseudonymKeyMissing, match="refusing to start"):
            pseudonym_key(Settings(environment="prod", pseudonym_key=None, home=tmp_path))

    def test_prod_never_reads_dev_key_file(self, tmp_path: Path) -> None:
        pseudonym_key(Settings(environment="dev", home=tmp_path))
        with pytest.raises(PseudonymKeyMissing):
            pseudonym_key(Settings(environment="prod", home=tmp_path))

    def test_configured_key(self) -> None:
        key = "x" * 40
        assert key.encode() == pseudonym_key(
            Settings(environment="prod", pseudonym_key=SecretStr(key))
        )

    def test_short_key_refused(self) -> None:
        with pytest.raises(PseudonymKeyTooShort):
            pseudonym_key(Settings(environment="prod", pseudonym_key=SecretStr("short")))

    def test_pinned_pseudonym(self) -> None:
        """A change to the derivation (HMAC-SHA256 over `bsn:<digits>`) cannot pass unnoticed:
        consumers match pseudonyms across years of events."""
        key = b"ketenbus-pinned-test-key-0123456789abcdef"
        expected = "1659cb750ea189b3cb1f938275bff41d669993f61d636cc231a7107350b71204"
        assert expected == Pseudonymiser(key).bsn("111222333")
