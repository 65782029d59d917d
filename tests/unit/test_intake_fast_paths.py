"""The intake's fast paths give exactly the answers of the plain implementations they
stand in for: shape checks (orjson + one walk vs the standard parser with hooks), the
fingerprint's canonical JSON (orjson vs json.dumps: a changed fingerprint would turn every
re-send into a conflict), event ids (vs uuid.uuid5), an address's Avro form, and the
verified-token cache."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from devtools.samples import jsonl_lines
from intake.clients import ClientRegistry, Unauthenticated, client_path, make_token
from intake.errors import RecordRejected
from intake.events import EVENT_ID_NAMESPACE, event_id, to_event
from intake.fingerprints import canonical_json, content_fingerprint
from intake.limits import _check_shape_exact, check_shape
from intake.models import Address, AdmissionReason, parse_record
from ketenbus.pseudonyms import Pseudonymiser
from ketenbus.settings import Settings

KEY = b"k" * 32


def _answer(check: Any, payload: bytes) -> tuple[Any, ...]:
    try:
        return ("parsed", check(payload))
    except RecordRejected as exc:
        return (type(exc).__name__, exc.message, [str(e) for e in exc.errors])


def _same_answer(payload: bytes) -> None:
    assert _answer(_check_shape_exact, payload) == _answer(check_shape, payload)


texts = st.text(
    alphabet=st.sampled_from(
        ["a", "b", '"', "\\", ":", "[", "{", "}", "]", ",", " ", "é", "\x7f", "\x00", "\ud800"]
    ),
    max_size=8,
)
numbers = st.one_of(
    st.integers(min_value=-(10**22), max_value=10**22),
    st.floats(allow_nan=False, allow_infinity=False),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["a", "b", "c:", 'd"']), inner, max_size=4),
    ),
    max_leaves=20,
)


class TestShapeFastPath:
    """`check_shape` answers every input as the exact parser does: same value, or the same
    refusal with the same reason and message."""

    @settings(max_examples=400, derandomize=True, deadline=None)
    @given(values, st.sampled_from([None, 0, 2]))
    def test_generated_json(self, value: Any, indent: int | None) -> None:
        _same_answer(json.dumps(value, indent=indent).encode())

    @settings(max_examples=300, derandomize=True, deadline=None)
    @given(st.dictionaries(st.sampled_from(["a", "b"]), scalars, min_size=1), st.data())
    def test_repeated_keys(self, value: dict[str, Any], data: st.DataObject) -> None:
        text = json.dumps(value)
        key = data.draw(st.sampled_from(sorted(value)))
        _same_answer(f'{{"{key}": 1, {text[1:]}'.encode())

    @pytest.mark.parametrize(
        "payload",
        [
            b'{"a": 1, "a": 2}',
            b'{"a:": 1, "a:": 2}',
            b'{"a\\"": 1, "a\\"": 2}',
            b'{"x": "a\\\\", "x": "b"}',
            b'{"x": {"y": 1, "y": 1}}',
            b'{"n": 1234567890123456789}',
            b'{"n": -123456789012345678}',
            b'{"n": 0.12345678901234567890}',
            b'{"n": "1234567890123456789012"}',
            b'{"s": "\\ud800"}',
            b"\xef\xbb\xbf{}",
            '{"a": 1}'.encode("utf-16"),
            b"[" * 9 + b"]" * 9,
            b"[" * 8 + b"]" * 8,
            b"[" * 5000 + b"]" * 5000,
            b'{"l": [' + b"1," * 1000 + b"1]}",
            b"[" + b"1," * 2000 + b"1]",
            b'{"t": "' + b"x" * 4097 + b'"}',
            b'["' + b"x" * 5000 + b'"]',
            b"5",
            b'"text"',
            b"",
            b"{",
            b'{"a": NaN}',
            b'{"a": 1e400}',
        ],
    )
    def test_edges(self, payload: bytes) -> None:
        _same_answer(payload)

    def test_sample_records(self) -> None:
        for text, _ in jsonl_lines(200, agency="gemeente:0599", prefix="FAST"):
            _same_answer(text.encode())


def _reference_json(content: dict[str, Any]) -> bytes:
    """How fingerprints have always been made (intake/fingerprints.py before orjson)."""

    def default(value: object) -> str:
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(type(value).__name__)

    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=default).encode()


moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
event_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    moments,
    st.sampled_from(list(AdmissionReason)),
)
contents = st.dictionaries(
    st.text(max_size=5),
    st.one_of(
        event_values,
        st.lists(event_values, max_size=3),
        st.dictionaries(st.text(max_size=3), event_values, max_size=3),
    ),
    max_size=8,
)


class TestCanonicalJson:
    """The fingerprint's text is byte for byte what json.dumps wrote (stored fingerprints
    must keep matching)."""

    @settings(max_examples=500, derandomize=True, deadline=None)
    @given(contents)
    @example({"amount_eur": 1e-07, "at": datetime(2026, 5, 1, 8, 1, 0, 123, tzinfo=UTC)})
    @example({"letter": "\x7f", "name": "é", "ctl": "\x1f"})
    def test_generated_contents(self, content: dict[str, Any]) -> None:
        assert _reference_json(content) == canonical_json(content)

    def test_events_keep_their_fingerprints(self) -> None:
        pseudonymiser = Pseudonymiser(KEY)
        recorded_at = datetime(2026, 6, 1, tzinfo=UTC) + timedelta(microseconds=5)
        for text, _ in jsonl_lines(200, agency="gemeente:0599", prefix="FP"):
            _, event = to_event(
                parse_record(text), recorded_at=recorded_at, pseudonymiser=pseudonymiser
            )
            content = {k: v for k, v in event.items() if k != "recorded_at"}
            expected = hmac.new(
                KEY, b"content:" + _reference_json(content), hashlib.sha256
            ).hexdigest()[:32]
            assert expected == content_fingerprint(KEY, event)


class TestEventId:
    """Event ids are uuid5(namespace, agency/ref), as they always were."""

    @settings(max_examples=300, derandomize=True, deadline=None)
    @given(st.text(max_size=20), st.text(max_size=40))
    def test_uuid5(self, agency: str, ref: str) -> None:
        expected = str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{agency}/{ref}"))
        assert expected == event_id(agency, ref)


class TestAddressAvro:
    """An address's Avro form holds every model field and its key."""

    def test_every_field(self) -> None:
        address = Address(
            postcode="3083AB", house_number=12, house_letter="a", addition="2hg", bag_id=None
        )
        assert {"key": address.key, **address.model_dump()} == address.to_avro()


class TestVerifiedTokenCache:
    """A verified token is remembered by its hash only until it expires or its client's
    registry file changes or goes: the answer is the one a fresh verification gives."""

    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return Settings(home=tmp_path, environment="test")

    def test_expires_while_remembered(self, settings: Settings) -> None:
        registry = ClientRegistry(settings)
        issued = time.time()
        header = f"Bearer {make_token('nla', settings, now=issued)}"
        registry.authenticate(header, now=issued)
        later = (
            issued + settings.intake_token_max_age_seconds + settings.intake_token_leeway_seconds
        )
        with pytest.raises(Unauthenticated) as caught:
            registry.authenticate(header, now=later + 1)
        assert "token_expired" == caught.value.reason

    def test_removed_client_refused_at_once(self, settings: Settings) -> None:
        registry = ClientRegistry(settings)
        header = f"Bearer {make_token('nla', settings)}"
        registry.authenticate(header)
        client_path(settings, "nla").unlink()
        with pytest.raises(Unauthenticated) as caught:
            registry.authenticate(header)
        assert "invalid_token" == caught.value.reason

    def test_token_text_not_kept(self, settings: Settings) -> None:
        registry = ClientRegistry(settings)
        token = make_token("nla", settings)
        registry.authenticate(f"Bearer {token}")
        assert (1, False) == (
            len(registry._verified),
            any(token in repr(key) for key in registry._verified),
        )
