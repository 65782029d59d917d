"""Unit tests of the webhook bridge's pure core: filters, bodies, signatures, retries."""

from __future__ import annotations

import json
from typing import Any

import pytest

from operations.webhook.core import (
    CLOUDEVENT_TYPE,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    RetryPolicy,
    backoff_delay,
    kenmerken,
    matches,
    next_delay,
    render_body,
    request_headers,
    schedule,
    signature,
    source_urn,
    verify_signature,
    zgw_action,
)

SECRET = b"s3cret"


def note(**overrides: Any) -> dict[str, Any]:
    """A notification in its public JSON form (correlator.projection.notification_json)."""
    base: dict[str, Any] = {
        "notification_id": "a" * 32,
        "case_event_id": "ce-1",
        "recipient": "gemeente:0599",
        "case_id": "dwelling:3083AB-12-A",
        "kind": "dwelling",
        "status": "open",
        "changes": ["status:signal->open", "violation:+OVERCROWDING"],
        "address": {
            "key": "3083AB-12-A",
            "postcode": "3083AB",
            "house_number": 12,
            "house_letter": "A",
            "addition": None,
            "bag_id": None,
            "municipality_code": "0599",
        },
        "organisations": ["12345678"],
        "violations": ["OVERCROWDING", "INTIMIDATION"],
        "agencies": ["gemeente:0599", "politie"],
        "lead_agency": "gemeente:0599",
        "events": ["gemeente:0599/MP-1", "politie/PV-2"],
        "recidive": False,
        "issued_at": "2026-05-02T09:30:00Z",
    }
    base.update(overrides)
    return base


def render(body_format: str, notification: dict[str, Any]) -> dict[str, Any]:
    body = render_body(
        body_format,
        notification,
        source=source_urn("00000001000005990000"),
        kanaal="ketenbus-zaken",
        case_base_url="https://ketenbus.example/api/cases/",
    )
    return json.loads(body.content)


class TestKenmerken:
    """The filterable facts are strings, codes sorted and joined, municipality derived."""

    def test_dwelling_case(self) -> None:
        expected = {
            "status": "open",
            "kind": "dwelling",
            "violations": "INTIMIDATION,OVERCROWDING",
            "municipality": "0599",
            "lead_agency": "gemeente:0599",
            "recidive": "false",
        }
        assert expected == kenmerken(note())

    def test_municipality_from_lead_gemeente_without_address(self) -> None:
        assert "0363" == kenmerken(note(address=None, lead_agency="gemeente:0363"))["municipality"]

    def test_organisation_case_has_no_municipality(self) -> None:
        found = kenmerken(note(kind="organisation", address=None, lead_agency="nla"))
        assert "municipality" not in found


class TestFilters:
    """Every filtered kenmerk must match; any listed value suffices; codes match singly."""

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            ({}, True),
            ({"status": ["open", "stalled"]}, True),
            ({"status": ["closed"]}, False),
            ({"violations": ["INTIMIDATION"]}, True),
            ({"violations": ["UNDERPAYMENT", "OVERCROWDING"]}, True),
            ({"violations": ["UNDERPAYMENT"]}, False),
            ({"municipality": ["0599"], "status": ["open"]}, True),
            ({"municipality": ["0599"], "status": ["signal"]}, False),
            ({"municipality": ["0363"]}, False),
            ({"recidive": ["true"]}, False),
        ],
    )
    def test_matches(self, filters: dict[str, list[str]], expected: bool) -> None:
        assert expected == matches(filters, note())

    def test_missing_kenmerk_does_not_match(self) -> None:
        assert False is matches({"municipality": ["0599"]}, note(address=None, lead_agency="nla"))


class TestCloudEvent:
    """The CloudEvents body carries the NL GOV required attributes and the notification."""

    def test_required_attributes(self) -> None:
        event = render("cloudevents", note())
        expected = {
            "specversion": "1.0",
            "id": "a" * 32,
            "source": "urn:nld:oin:00000001000005990000:systeem:ketenbus",
            "type": CLOUDEVENT_TYPE,
            "time": "2026-05-02T09:30:00Z",
            "subject": "dwelling:3083AB-12-A",
            "datacontenttype": "application/json",
        }
        assert expected == {k: v for k, v in event.items() if k != "data"}

    def test_data_is_the_notification(self) -> None:
        assert note() == render("cloudevents", note())["data"]

    def test_rendering_is_deterministic(self) -> None:
        first = render_body("cloudevents", note(), source="s", kanaal="k", case_base_url="u")
        again = render_body("cloudevents", note(), source="s", kanaal="k", case_base_url="u")
        assert first == again

    def test_content_type(self) -> None:
        body = render_body("cloudevents", note(), source="s", kanaal="k", case_base_url="u")
        assert "application/cloudevents+json" == body.content_type


class TestZgwMessage:
    """The ZGW body has the Notificaties API message fields, kenmerken as strings."""

    def test_fields(self) -> None:
        message = render("zgw", note())
        url = "https://ketenbus.example/api/cases/dwelling:3083AB-12-A"
        expected = {
            "kanaal": "ketenbus-zaken",
            "hoofdObject": url,
            "resource": "case",
            "resourceUrl": url,
            "actie": "update",
            "aanmaakdatum": "2026-05-02T09:30:00Z",
            "kenmerken": kenmerken(note()),
        }
        assert expected == message

    def test_kenmerken_values_are_strings(self) -> None:
        assert all(isinstance(v, str) for v in render("zgw", note())["kenmerken"].values())

    @pytest.mark.parametrize(
        ("changes", "expected"),
        [
            (["status:new->open", "violation:+OVERCROWDING"], "create"),
            (["status:open->stalled"], "update"),
            (["status:stalled->closed"], "update"),
            (["violation:+UNDERPAYMENT"], "partial_update"),
            ([], "partial_update"),
        ],
    )
    def test_actie(self, changes: list[str], expected: str) -> None:
        assert expected == zgw_action(changes)

    def test_unknown_format_is_refused(self) -> None:
        with pytest.raises(ValueError, match="unknown body format"):
            render_body("xml", note(), source="s", kanaal="k", case_base_url="u")


class TestSignature:
    """The signature covers timestamp and body; receivers verify it in constant time."""

    def test_verifies(self) -> None:
        body = b'{"x": 1}'
        assert verify_signature(SECRET, body, signature(SECRET, 1000, body), "1000", now=1010)

    def test_tampered_body_fails(self) -> None:
        sig = signature(SECRET, 1000, b'{"x": 1}')
        assert False is verify_signature(SECRET, b'{"x": 2}', sig, "1000", now=1000)

    def test_replayed_with_new_timestamp_fails(self) -> None:
        sig = signature(SECRET, 1000, b"{}")
        assert False is verify_signature(SECRET, b"{}", sig, "2000", now=2000)

    def test_stale_timestamp_fails(self) -> None:
        sig = signature(SECRET, 1000, b"{}")
        assert False is verify_signature(SECRET, b"{}", sig, "1000", now=1000 + 301)

    def test_wrong_secret_fails(self) -> None:
        sig = signature(b"other", 1000, b"{}")
        assert False is verify_signature(SECRET, b"{}", sig, "1000", now=1000)

    def test_known_value(self) -> None:
        # openssl: printf '1000.{}' | openssl dgst -sha256 -hmac s3cret
        expected = "sha256=" + __import__("hmac").new(SECRET, b"1000.{}", "sha256").hexdigest()
        assert expected == signature(SECRET, 1000, b"{}")

    def test_headers(self) -> None:
        body = render_body("zgw", note(), source="s", kanaal="k", case_base_url="u")
        headers = request_headers(
            secret=SECRET,
            body=body,
            notification_id="n1",
            subscription_id="sub",
            attempt=3,
            timestamp=1000,
            authorization="Bearer t",
        )
        assert "n1" == headers[IDEMPOTENCY_HEADER]
        assert "1000" == headers[TIMESTAMP_HEADER]
        assert signature(SECRET, 1000, body.content) == headers[SIGNATURE_HEADER]
        assert "Bearer t" == headers["Authorization"]


class TestBackoff:
    """Waits double up to the cap, jitter keeps them in the upper half, the budget ends it."""

    policy = RetryPolicy(initial_seconds=1, max_delay_seconds=60, budget_seconds=3600)

    def test_doubles(self) -> None:
        expected = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
        assert expected == [backoff_delay(self.policy, n, lambda: 1.0) for n in range(1, 9)]

    def test_jitter_keeps_upper_half(self) -> None:
        assert 4.0 == backoff_delay(self.policy, 4, lambda: 0.0)

    def test_budget_spent(self) -> None:
        assert None is next_delay(self.policy, 10, 3600.0, lambda: 1.0)

    def test_last_wait_lands_on_budget(self) -> None:
        assert 10.0 == next_delay(self.policy, 10, 3590.0, lambda: 1.0)

    def test_default_keeps_trying_for_a_day(self) -> None:
        starts = schedule(RetryPolicy(), lambda: 0.5)
        assert 86400.0 == starts[-1]
        assert 24 * 2 < len(starts)  # at least about two attempts an hour at the cap

    def test_huge_attempt_numbers_do_not_overflow(self) -> None:
        assert 60.0 == backoff_delay(self.policy, 10_000, lambda: 1.0)
