"""Unit tests of intake trust's pure parts: bearer tokens, input bounds, BSN-in-ref, event
time bounds, the bounded correlator clock, webhook URL policy and bounded file reading."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import jwt
import pytest
import typer
from typer.testing import CliRunner

from correlator.domain.clock import advance
from devtools.samples import record
from intake import IntakeItem
from intake.clients import (
    ClientMissing,
    ClientRegistry,
    Unauthenticated,
    issue_intake_client,
    make_token,
    sign,
)
from intake.commands.credentials import register
from intake.core import Intake
from intake.errors import (
    AgencyNotAuthorised,
    MalformedRecord,
    OccurredAtOutOfRange,
    RecordRejected,
    RecordTooComplex,
    RecordTooLarge,
)
from intake.files import bounded_lines
from intake.limits import check_shape, nesting_depth
from intake.models import bsn_in_ref
from intake.registry import AdapterRegistry
from ketenbus.pseudonyms import Pseudonymiser
from ketenbus.settings import Settings, get_settings
from operations.webhook.subscriptions import check_callback_url

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PSEUDO = Pseudonymiser(b"unit-test-key-of-at-least-32-bytes!!")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(environment="test", home=tmp_path)


@pytest.fixture(scope="module")
def intake() -> Intake:
    return Intake(AdapterRegistry.load(), PSEUDO, clock=lambda: NOW)


def item(data: dict[str, Any] | bytes) -> IntakeItem:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return IntakeItem(payload=raw, original=raw)


class TestBearerTokens:
    """ZGW-style JWTs: HS256 with the client's secret, client_id + iat, short lifetime."""

    def test_token_of_issued_client_authenticates(self, settings: Settings) -> None:
        caller = ClientRegistry(settings).authenticate(f"Bearer {make_token('nla', settings)}")
        assert ("nla", frozenset({"nla"})) == (caller.client_id, caller.agencies)

    def test_claims(self, settings: Settings) -> None:
        claims = jwt.decode(
            make_token("gemeente:0599", settings), options={"verify_signature": False}
        )
        assert ("gemeente-0599", 300) == (claims["client_id"], claims["exp"] - claims["iat"])

    def test_registry_file_is_private(self, settings: Settings) -> None:
        client = issue_intake_client("nau", settings=settings)
        assert 0o600 == client.path.stat().st_mode & 0o777

    @pytest.mark.parametrize(
        ("header", "reason"),
        [
            (None, "missing_token"),
            ("", "missing_token"),
            ("Basic dXNlcjpwdw==", "missing_token"),
            ("Bearer not-a-jwt", "malformed_token"),
        ],
    )
    def test_missing_or_malformed(
        self, settings: Settings, header: str | None, reason: str
    ) -> None:
        with pytest.raises(Unauthenticated) as caught:
            ClientRegistry(settings).authenticate(header)
        assert reason == caught.value.reason

    def test_wrong_secret(self, settings: Settings) -> None:
        issue_intake_client("nla", settings=settings)
        token = sign("nla", "not-the-secret-but-long-enough-for-hs256-xxxxxxxx", settings)
        with pytest.raises(Unauthenticated, match="bad signature"):
            ClientRegistry(settings).authenticate(f"Bearer {token}")

    def test_unknown_client(self, settings: Settings) -> None:
        token = sign("politie", "some-secret-that-is-long-enough-for-hs256-xxxxxxx", settings)
        with pytest.raises(Unauthenticated, match="unknown client"):
            ClientRegistry(settings).authenticate(f"Bearer {token}")

    def test_path_in_client_id_is_not_a_file_name(self, settings: Settings) -> None:
        token = jwt.encode({"client_id": "../../etc/passwd", "iat": int(time.time())}, "x" * 40)
        with pytest.raises(Unauthenticated, match="unknown client"):
            ClientRegistry(settings).authenticate(f"Bearer {token}")

    def test_old_token_expired(self, settings: Settings) -> None:
        token = make_token("nla", settings, now=time.time() - 3600)
        with pytest.raises(Unauthenticated) as caught:
            ClientRegistry(settings).authenticate(f"Bearer {token}")
        assert "token_expired" == caught.value.reason

    def test_token_without_exp_expires_by_iat(self, settings: Settings) -> None:
        client = issue_intake_client("nla", settings=settings)
        token = jwt.encode(
            {"client_id": "nla", "iat": int(time.time()) - 3600}, client.secret, algorithm="HS256"
        )
        with pytest.raises(Unauthenticated) as caught:
            ClientRegistry(settings).authenticate(f"Bearer {token}")
        assert "token_expired" == caught.value.reason

    def test_small_clock_skew_tolerated(self, settings: Settings) -> None:
        token = make_token("nla", settings, now=time.time() + 10)
        assert "nla" == ClientRegistry(settings).authenticate(f"Bearer {token}").client_id

    def test_token_from_the_future_refused(self, settings: Settings) -> None:
        token = make_token("nla", settings, now=time.time() + 600)
        with pytest.raises(Unauthenticated):
            ClientRegistry(settings).authenticate(f"Bearer {token}")

    def test_none_algorithm_refused(self, settings: Settings) -> None:
        issue_intake_client("nla", settings=settings)
        token = jwt.encode({"client_id": "nla", "iat": int(time.time())}, None, algorithm="none")
        with pytest.raises(Unauthenticated):
            ClientRegistry(settings).authenticate(f"Bearer {token}")

    def test_rotation_invalidates_old_secret(self, settings: Settings) -> None:
        registry = ClientRegistry(settings)
        old = make_token("nla", settings)
        registry.authenticate(f"Bearer {old}")
        time.sleep(0.01)  # a distinct mtime for the rewritten registry file
        issue_intake_client("nla", rotate=True, settings=settings)
        new = make_token("nla", settings)
        with pytest.raises(Unauthenticated):
            registry.authenticate(f"Bearer {old}")
        assert "nla" == registry.authenticate(f"Bearer {new}").client_id

    def test_outside_dev_no_implicit_client(self, tmp_path: Path) -> None:
        with pytest.raises(ClientMissing, match="credentials issue"):
            make_token("nla", Settings(environment="prod", home=tmp_path))


class TestInputBounds:
    """Hostile shapes are refused before a recursive parser or the models see them."""

    def test_deep_nesting_refused_without_recursion(self) -> None:
        payload = b"[" * 200_000 + b"]" * 200_000
        with pytest.raises(RecordTooComplex):
            check_shape(payload)

    def test_brackets_in_strings_do_not_count(self) -> None:
        assert 1 == nesting_depth(b'{"a": "[[[[[[[[[[[[[[[[[["}')

    @pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
    def test_non_json_numbers_refused(self, literal: bytes) -> None:
        with pytest.raises(MalformedRecord):
            check_shape(b'{"amount_eur": ' + literal + b"}")

    @pytest.mark.parametrize(
        "payload",
        [
            b'{"a": 1, "a": 2}',
            b'{"n": 1' + b"0" * 30 + b"}",
            b'{"n": 1e999}',
            json.dumps({"workers": [{"bsn": "1"}] * 1001}).encode(),
            json.dumps({f"k{i}": i for i in range(65)}).encode(),
        ],
    )
    def test_shapes_refused(self, payload: bytes) -> None:
        with pytest.raises(RecordTooComplex):
            check_shape(payload)

    def test_invalid_utf8_is_malformed(self) -> None:
        with pytest.raises(MalformedRecord):
            check_shape(b'{"ref": "\xff\xfe"}')

    def test_record_size(self, intake: Intake) -> None:
        big = record("nla", "complaint", 1) | {"ref": "R" * 100_000}
        with pytest.raises(RecordTooLarge):
            intake.prepare(item(big))

    @pytest.mark.parametrize(
        ("field", "value", "named"),
        [
            ("occupants_found", 2**31, "occupants_found"),
            ("occupants_registered", 10**20, "(record)"),
        ],
    )
    def test_ints_bounded_to_avro(self, intake: Intake, field: str, value: int, named: str) -> None:
        data = record("nla", "inspection", 1) | {field: value}
        with pytest.raises(RecordRejected) as caught:
            intake.prepare(item(data))
        assert (422, named) == (caught.value.status, caught.value.errors[0].field)

    def test_amount_bounded(self, intake: Intake) -> None:
        data = record("nla", "sanction", 1) | {"amount_eur": 1e300}
        with pytest.raises(Exception) as caught:
            intake.prepare(item(data))
        assert 422 == caught.value.status  # type: ignore[attr-defined]

    def test_free_text_reason_refused(self, intake: Intake) -> None:
        data = record("nau", "admission_revoked", 1) | {"reason": "Jan de Vries 111222333"}
        with pytest.raises(Exception) as caught:
            intake.prepare(item(data))
        assert ("reason", False) == (
            caught.value.errors[0].field,  # type: ignore[attr-defined]
            "Jan" in str(caught.value),
        )


class TestBsnInRef:
    """A ref holding a BSN is refused; ordinary year-number refs are not."""

    @pytest.mark.parametrize(
        ("ref", "refused"),
        [
            ("MP-2026-0142", False),
            ("2026-00001", False),
            ("NAU-TOEL-2026-0019", False),
            ("111222333", True),
            ("X-111.222.333", True),
            ("111-222-333", True),
            ("D/111/222/333", True),
            ("2026-100000000", True),
        ],
    )
    def test_refs(self, ref: str, refused: bool) -> None:
        assert refused == bsn_in_ref(ref)

    def test_refused_with_a_message_that_does_not_repeat_it(self, intake: Intake) -> None:
        with pytest.raises(Exception) as caught:
            intake.prepare(item(record("nla", "complaint", 1) | {"ref": "111222333"}))
        assert ("ref", False) == (
            caught.value.errors[0].field,  # type: ignore[attr-defined]
            "111222333" in str(caught.value.errors),  # type: ignore[attr-defined]
        )


class TestEventTime:
    """occurred_at: at most the skew ahead of the intake's clock, not before the earliest date."""

    @pytest.mark.parametrize(
        ("occurred_at", "refused"),
        [
            ("2026-06-01T12:04:00Z", False),
            ("2026-06-01T12:06:00Z", True),
            ("2099-01-01T00:00:00Z", True),
            ("2000-01-01T00:00:00Z", False),
            ("1999-12-31T23:59:59Z", True),
        ],
    )
    def test_bounds(self, intake: Intake, occurred_at: str, refused: bool) -> None:
        data = record("nla", "complaint", 1) | {"occurred_at": occurred_at}
        try:
            intake.prepare(item(data))
        except OccurredAtOutOfRange:
            assert refused
        else:
            assert not refused

    def test_other_agency_not_authorised(self, intake: Intake) -> None:
        with pytest.raises(AgencyNotAuthorised):
            intake.prepare(item(record("nla", "complaint", 1)), allowed_agencies={"politie"})


class TestBoundedClock:
    """The correlator's clock never passes its wall clock plus the skew."""

    def test_far_future_event_stops_at_wall_clock_plus_skew(self) -> None:
        assert 1_300 == advance(1_000, 4_102_444_800_000, wall_ms=1_000, skew_ms=300)

    def test_ordinary_event_advances(self) -> None:
        assert 900 == advance(500, 900, wall_ms=1_000, skew_ms=300)

    def test_never_goes_back(self) -> None:
        assert 500 == advance(500, 100, wall_ms=1_000, skew_ms=300)


class TestWebhookUrls:
    """Webhook targets are https outside dev/test."""

    @pytest.mark.parametrize(
        ("url", "environment", "allowed"),
        [
            ("https://a.example/n", "prod", True),
            ("http://a.example/n", "prod", False),
            ("http://127.0.0.1:9/n", "dev", True),
            ("ftp://a.example/n", "dev", False),
        ],
    )
    def test_policy(self, url: str, environment: str, allowed: bool) -> None:
        try:
            check_callback_url(url, environment)
        except ValueError:
            assert not allowed
        else:
            assert allowed


class TestBoundedLines:
    """File lines are read with a bound: an oversized line is skipped, not held."""

    def test_oversized_line_skipped(self) -> None:
        data = b"a\n" + b"x" * 10_000 + b"\nb\r\n" + b"y" * 50
        assert [(1, b"a"), (2, None), (3, b"b"), (4, None)] == list(
            bounded_lines(io.BytesIO(data), 40)
        )


class TestCredentialsCommands:
    """The intake commands join the `credentials` group the Kafka security commands made,
    and `credentials issue AGENCY` then also issues the agency's intake client."""

    @pytest.fixture
    def app(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[typer.Typer]:
        monkeypatch.setenv("KETENBUS_HOME", str(tmp_path))
        get_settings.cache_clear()
        app = typer.Typer()
        kafka_side = typer.Typer()

        @kafka_side.command("issue")
        def issue(
            principal: str, rotate: Annotated[bool, typer.Option("--rotate")] = False
        ) -> None:
            typer.echo(f"kafka {principal} {rotate}")

        app.add_typer(kafka_side, name="credentials")
        register(app)
        yield app
        get_settings.cache_clear()

    def test_joins_existing_group(self, app: typer.Typer) -> None:
        [group] = app.registered_groups
        names = [c.name for c in group.typer_instance.registered_commands]  # type: ignore[union-attr]
        assert ["issue", "token", "intake-client", "intake-clients"] == names

    def test_issue_agency_also_issues_intake_client(self, app: typer.Typer, tmp_path: Path) -> None:
        output = CliRunner().invoke(app, ["credentials", "issue", "gemeente-0599"]).output
        path = tmp_path / "secrets" / "gemeente-0599.intake.json"
        assert (f"kafka gemeente-0599 False\n{path}\n", ["gemeente:0599"]) == (
            output,
            json.loads(path.read_text())["agencies"],
        )

    def test_issue_service_principal_only_kafka(self, app: typer.Typer) -> None:
        output = CliRunner().invoke(app, ["credentials", "issue", "correlator"]).output
        assert "kafka correlator False\n" == output

    def test_rotate_rotates_both(self, app: typer.Typer, tmp_path: Path) -> None:
        runner = CliRunner()
        runner.invoke(app, ["credentials", "issue", "nla"])
        path = tmp_path / "secrets" / "nla.intake.json"
        before = json.loads(path.read_text())["secret"]
        output = runner.invoke(app, ["credentials", "issue", "nla", "--rotate"]).output
        assert ("kafka nla True", False) == (
            output.splitlines()[0],
            before == json.loads(path.read_text())["secret"],
        )
