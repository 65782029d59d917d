"""Contract tests of the Avro codec: round trips, schema evolution, typed errors."""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastavro.schema import fingerprint

from ketenbus.contracts.codec import (
    HEADER_LEN,
    MAGIC,
    Codec,
    CodecError,
    CorruptPayload,
    EmptyMessage,
    NotSingleObjectEncoded,
    RecordDoesNotMatchSchema,
    SchemaResolutionFailed,
    UnknownFingerprint,
    UnknownSchema,
    fingerprint_header,
    get_codec,
)
from ketenbus.contracts.examples import EVENT_SCHEMAS, example
from ketenbus.errors import KetenbusError
from ketenbus.settings import PROJECT_ROOT

REPO_SCHEMAS = PROJECT_ROOT / "schemas"
COMPLAINT = "nl.ketenbus.events.Complaint"
CASE_ACTION = "nl.ketenbus.events.CaseAction"
SANCTION = "nl.ketenbus.events.Sanction"

SchemaEdit = Callable[[str, Callable[[dict[str, Any]], None]], None]


@pytest.fixture
def codec() -> Codec:
    return Codec(REPO_SCHEMAS)


@pytest.fixture
def schema_copy(tmp_path: Path) -> Callable[[str], tuple[Path, SchemaEdit]]:
    """A factory of copies of the repo's schemas (a 'release') that a test may edit."""

    def make(label: str) -> tuple[Path, SchemaEdit]:
        directory = tmp_path / label
        directory.mkdir()
        for path in REPO_SCHEMAS.glob("*.avsc"):
            shutil.copy(path, directory / path.name)

        def edit(name: str, change: Callable[[dict[str, Any]], None]) -> None:
            path = directory / f"{name}.avsc"
            schema = json.loads(path.read_text())
            change(schema)
            path.write_text(json.dumps(schema, indent=2))

        return directory, edit

    return make


def _raises(error: type[CodecError], action: Callable[[], object]) -> CodecError:
    with pytest.raises(error) as caught:
        action()
    return caught.value


class TestRoundTrip:
    """Every event schema's example record encodes and decodes back equal."""

    @pytest.mark.parametrize("schema", EVENT_SCHEMAS)
    def test_example_round_trips_equal(self, codec: Codec, schema: str) -> None:
        record = example(schema)
        decoded = codec.decode(codec.encode(schema, record))
        assert (schema, record) == (decoded.schema, decoded.record)

    def test_every_event_schema_is_covered(self, codec: Codec) -> None:
        parts = {"nl.ketenbus.Address", "nl.ketenbus.cases.EventRef"}
        assert sorted(set(codec.names) - parts) == sorted(EVENT_SCHEMAS)

    def test_omitted_optional_fields_decode_as_their_defaults(self, codec: Codec) -> None:
        record = {k: example(COMPLAINT)[k] for k in ("event_id", "agency", "ref")}
        record |= {"occurred_at": example(COMPLAINT)["occurred_at"]}
        record |= {"recorded_at": example(COMPLAINT)["recorded_at"]}
        decoded = codec.decode(codec.encode(COMPLAINT, record)).record
        expected: dict[str, Any] = {
            "address": None,
            "landlord_kvk": None,
            "violations": [],
            "anonymous": False,
        }
        assert expected == {k: decoded[k] for k in expected}


class TestHeader:
    """Messages carry the Avro single-object header: C3 01 + little-endian CRC-64-AVRO."""

    def test_header_is_marker_and_writer_fingerprint(self, codec: Codec) -> None:
        data = codec.encode(COMPLAINT, example(COMPLAINT))
        assert MAGIC + codec.fingerprint_of(COMPLAINT) == data[:HEADER_LEN]
        assert codec.fingerprint_of(COMPLAINT) == fingerprint_header(data)

    def test_fingerprint_bytes_are_little_endian_as_the_spec_requires(self) -> None:
        # Avro's own test vector: the 64-bit Rabin fingerprint of "null" (Java long).
        raw = bytes.fromhex(fingerprint('"null"', "CRC-64-AVRO"))
        assert 7195948357588979594 == struct.unpack("<q", raw)[0]

    def test_process_codec_reads_the_repo_schemas(self) -> None:
        assert Codec(REPO_SCHEMAS).names == get_codec(REPO_SCHEMAS).names


class TestSchemaEvolution:
    """Data written under an older schema stays readable after a compatible change."""

    def test_v1_written_record_reads_under_v2_with_added_optional_field(
        self, schema_copy: Callable[[str], tuple[Path, SchemaEdit]]
    ) -> None:
        v1_dir, _ = schema_copy("v1")
        v2_dir, edit_v2 = schema_copy("v2")
        optional = {"name": "channel", "type": ["null", "string"], "default": None}
        edit_v2(COMPLAINT, lambda s: s["fields"].append(optional))
        v1, v2 = Codec(v1_dir), Codec(v2_dir, history_dirs=[v1_dir])
        written = v1.encode(COMPLAINT, example(COMPLAINT))
        decoded = v2.decode(written)
        assert example(COMPLAINT) | {"channel": None} == decoded.record
        assert v1.fingerprint_of(COMPLAINT) == decoded.fingerprint
        assert v1.fingerprint_of(COMPLAINT) != v2.fingerprint_of(COMPLAINT)

    def test_v2_written_record_reads_under_v1_without_the_new_field(
        self, schema_copy: Callable[[str], tuple[Path, SchemaEdit]]
    ) -> None:
        v1_dir, _ = schema_copy("v1")
        v2_dir, edit_v2 = schema_copy("v2")
        optional = {"name": "channel", "type": ["null", "string"], "default": None}
        edit_v2(COMPLAINT, lambda s: s["fields"].append(optional))
        v1, v2 = Codec(v1_dir, history_dirs=[v2_dir]), Codec(v2_dir)
        written = v2.encode(COMPLAINT, example(COMPLAINT) | {"channel": "meldpunt-web"})
        assert example(COMPLAINT) == v1.decode(written).record

    def test_unknown_case_action_reads_as_the_enum_default_other(
        self, schema_copy: Callable[[str], tuple[Path, SchemaEdit]]
    ) -> None:
        newer_dir, edit_newer = schema_copy("newer")
        edit_newer("nl.ketenbus.CaseActionType", lambda s: s["symbols"].append("PREMISES_SEALED"))
        newer = Codec(newer_dir)
        current = Codec(REPO_SCHEMAS, history_dirs=[newer_dir])
        written = newer.encode(CASE_ACTION, example(CASE_ACTION) | {"action": "PREMISES_SEALED"})
        assert "OTHER" == current.decode(written).record["action"]

    def test_unknown_violation_code_without_enum_default_is_a_resolution_error(
        self, schema_copy: Callable[[str], tuple[Path, SchemaEdit]]
    ) -> None:
        newer_dir, edit_newer = schema_copy("newer")
        edit_newer("nl.ketenbus.ViolationCode", lambda s: s["symbols"].append("NEW_CODE"))
        written = Codec(newer_dir).encode(
            SANCTION, example(SANCTION) | {"violations": ["NEW_CODE"]}
        )
        current = Codec(REPO_SCHEMAS, history_dirs=[newer_dir])
        error = _raises(SchemaResolutionFailed, lambda: current.decode(written))
        assert "NEW_CODE" in str(error)

    def test_added_required_field_names_the_field_when_old_data_is_read(
        self, schema_copy: Callable[[str], tuple[Path, SchemaEdit]]
    ) -> None:
        v1_dir, _ = schema_copy("v1")
        v2_dir, edit_v2 = schema_copy("v2")
        edit_v2(COMPLAINT, lambda s: s["fields"].append({"name": "channel", "type": "string"}))
        written = Codec(v1_dir).encode(COMPLAINT, example(COMPLAINT))
        v2 = Codec(v2_dir, history_dirs=[v1_dir])
        error = _raises(SchemaResolutionFailed, lambda: v2.decode(written))
        assert ("schema_resolution_failed", True) == (error.reason, "channel" in str(error))


class TestBadBytes:
    """Each kind of bad message raises its own typed error that names the reason."""

    def test_garbage(self, codec: Codec) -> None:
        error = _raises(NotSingleObjectEncoded, lambda: codec.decode(b"hello, this is not avro"))
        assert "not the Avro single-object marker c301" in str(error)

    def test_json_instead_of_avro(self, codec: Codec) -> None:
        data = json.dumps({"ref": "MP-1"}).encode()
        error = _raises(NotSingleObjectEncoded, lambda: codec.decode(data))
        assert "not_single_object_encoded" == error.reason

    @pytest.mark.parametrize("data", [b"", None], ids=["empty", "none"])
    def test_empty_or_tombstone(self, codec: Codec, data: bytes | None) -> None:
        error = _raises(EmptyMessage, lambda: codec.decode(data))
        assert ("empty_message", True) == (error.reason, "empty" in str(error))

    def test_shorter_than_the_header(self, codec: Codec) -> None:
        error = _raises(NotSingleObjectEncoded, lambda: codec.decode(MAGIC + b"\x01\x02"))
        assert "4 bytes, shorter than the 10-byte" in str(error)

    def test_truncated_body(self, codec: Codec) -> None:
        data = codec.encode(COMPLAINT, example(COMPLAINT))
        error = _raises(CorruptPayload, lambda: codec.decode(data[:-5]))
        assert (CorruptPayload, f"{COMPLAINT}: body does not decode") == (
            type(error),
            str(error)[: len(COMPLAINT) + 22],
        )

    def test_trailing_bytes(self, codec: Codec) -> None:
        data = codec.encode(COMPLAINT, example(COMPLAINT)) + b"\x00\x07"
        error = _raises(CorruptPayload, lambda: codec.decode(data))
        assert f"{COMPLAINT}: 2 trailing bytes" == str(error)

    def test_unknown_fingerprint(self, codec: Codec) -> None:
        body = codec.encode(COMPLAINT, example(COMPLAINT))[HEADER_LEN:]
        data = MAGIC + bytes.fromhex("0123456789abcdef") + body
        error = _raises(UnknownFingerprint, lambda: codec.decode(data))
        assert "unknown writer schema fingerprint 0123456789abcdef" == str(error)

    def test_every_codec_error_is_a_ketenbus_error(self) -> None:
        errors = [
            EmptyMessage,
            NotSingleObjectEncoded,
            UnknownFingerprint,
            CorruptPayload,
            SchemaResolutionFailed,
            RecordDoesNotMatchSchema,
            UnknownSchema,
        ]
        assert all(issubclass(e, KetenbusError) for e in errors)
        assert len(errors) == len({e.reason for e in errors})


class TestRecordDoesNotMatchSchema:
    """Encoding a record that does not fit its schema names the schema and the field."""

    @pytest.mark.parametrize(
        ("change", "named"),
        [
            ({"anonymous": "yes"}, "nl.ketenbus.events.Complaint.anonymous"),
            ({"ref": None}, "nl.ketenbus.events.Complaint.ref"),
            ({"violations": ["NOT_A_CODE"]}, "nl.ketenbus.events.Complaint.violations"),
            ({"address": {"postcode": "3083AB"}}, "nl.ketenbus.Address.key"),
            ({"occurred_at": "yesterday"}, "nl.ketenbus.events.Complaint.occurred_at"),
            ({"complainant_name": "J. Jansen"}, "complainant_name"),
        ],
        ids=["wrong-type", "missing-required", "bad-enum", "nested", "bad-timestamp", "unknown"],
    )
    def test_names_the_field(self, codec: Codec, change: dict[str, Any], named: str) -> None:
        record = example(COMPLAINT) | change
        error = _raises(RecordDoesNotMatchSchema, lambda: codec.encode(COMPLAINT, record))
        assert (True, True) == (str(error).startswith(COMPLAINT), named in str(error))

    def test_unknown_schema_name(self, codec: Codec) -> None:
        error = _raises(UnknownSchema, lambda: codec.encode("nl.ketenbus.events.Nope", {}))
        assert "unknown schema 'nl.ketenbus.events.Nope'" == str(error)
