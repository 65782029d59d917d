"""An agency code is parsed once, where it enters, into an AgencyCode value."""

from __future__ import annotations

import json

import pytest

from intake.models import parse_record
from ketenbus.agencies import AgencyCode, InvalidAgency, principal_of, source_topic

RECORD = {
    "agency": "gemeente:0599",
    "type": "complaint",
    "ref": "MP-1",
    "occurred_at": "2026-05-02T09:30:00Z",
    "address": {"postcode": "3083AB", "house_number": 12},
    "violations": ["OVERCROWDING"],
    "anonymous": True,
}


class TestAgencyCode:
    """The value knows its topics, principal and CBS code, and refuses malformed codes."""

    def test_municipality(self) -> None:
        code = AgencyCode("gemeente:0599")
        assert ("0599", "gemeente.0599", "gemeente-0599") == (code.cbs, code.slug, code.principal)

    def test_national_agency_has_no_cbs(self) -> None:
        code = AgencyCode("nla")
        assert (None, "events.nla", "notifications.nla") == (
            code.cbs,
            code.source_topic,
            code.notification_topic,
        )

    @pytest.mark.parametrize("bad", ["gemeente", "gemeente:599", "NLA", "x", "gemeente:05990"])
    def test_malformed_is_refused(self, bad: str) -> None:
        with pytest.raises(InvalidAgency):
            AgencyCode(bad)

    def test_parsing_a_parsed_code_is_identity(self) -> None:
        code = AgencyCode("politie")
        assert code is AgencyCode(code)

    def test_plain_string_functions_agree(self) -> None:
        assert ("events.gemeente.0599", "gemeente-0599") == (
            source_topic("gemeente:0599"),
            principal_of("gemeente:0599"),
        )


class TestIntakeBoundary:
    """A validated intake record carries an AgencyCode, not a bare string."""

    def test_record_agency_is_parsed(self) -> None:
        record = parse_record(json.dumps(RECORD).encode())
        assert (True, "events.gemeente.0599") == (
            isinstance(record.agency, AgencyCode),
            record.agency.source_topic,
        )

    def test_invalid_agency_is_a_field_error(self) -> None:
        with pytest.raises(ValueError, match="agency"):
            parse_record(json.dumps({**RECORD, "agency": "gemeente:59"}).encode())
