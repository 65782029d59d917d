"""Avro codec: single-object encoding (Avro spec) with fastavro.

Each message is `C3 01` + the 8-byte little-endian CRC-64-AVRO fingerprint of the writer
schema's canonical form + the Avro binary body. The fingerprint names the writer schema;
the reader resolves it against its own (newest) schema of the same full name, so events
written under an older, compatible schema stay readable. No registry service is needed:
`schemas/` (plus released baselines under `schemas/baseline/`) is the registry.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.read import SchemaResolutionError
from fastavro.schema import fingerprint, load_schema, to_parsing_canonical_form
from fastavro.validation import validate

from ketenbus.errors import KetenbusError

MAGIC = b"\xc3\x01"
HEADER_LEN = 10


class CodecError(KetenbusError):
    """A message could not be encoded or decoded; `reason` is a short machine-readable code."""

    reason = "codec_error"


class NotSingleObjectEncoded(CodecError):
    """The bytes do not start with the Avro single-object marker (garbage, JSON, truncated)."""

    reason = "not_single_object_encoded"


class EmptyMessage(NotSingleObjectEncoded):
    """The value is empty or None (a tombstone); there is no event to decode."""

    reason = "empty_message"


class UnknownFingerprint(CodecError):
    """The writer schema's fingerprint is not one of the known schemas."""

    reason = "unknown_schema_fingerprint"


class CorruptPayload(CodecError):
    """The body does not decode under its writer schema, or cannot be resolved to the reader's."""

    reason = "corrupt_payload"


class SchemaResolutionFailed(CorruptPayload):
    """The writer schema cannot be resolved to the reader's (an incompatible schema change)."""

    reason = "schema_resolution_failed"


class RecordDoesNotMatchSchema(CodecError):
    """A record handed to `encode` does not conform to its schema."""

    reason = "record_does_not_match_schema"


class UnknownSchema(CodecError):
    """No schema of that name exists in `schemas/`."""

    reason = "unknown_schema"


@dataclass(frozen=True)
class Decoded:
    """A decoded message: the schema full name it was read as, and the record."""

    schema: str
    record: dict[str, Any]
    fingerprint: bytes


@dataclass(frozen=True)
class _Schema:
    name: str
    parsed: Any
    fingerprint: bytes
    #: fastavro's own parsed form (marked as such): handed a plain schema, fastavro
    #: parses it again on every encode, validate and decode (3-4x their cost).
    fast: Any = None


def _load_dir(directory: Path) -> list[_Schema]:
    """Every top-level record schema of a directory (named types resolved from siblings)."""
    found: list[_Schema] = []
    for path in sorted(directory.glob("*.avsc")):
        if json.loads(path.read_text()).get("type") != "record":
            continue
        parsed: Any = load_schema(str(path), _write_hint=False)
        canonical = to_parsing_canonical_form(parsed)
        fp = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
        fast = fastavro.parse_schema(parsed)
        found.append(_Schema(name=parsed["name"], parsed=parsed, fingerprint=fp, fast=fast))
    return found


class Codec:
    """Encodes records under the current schemas; decodes any known writer schema."""

    def __init__(self, schemas_dir: Path, history_dirs: Iterable[Path] = ()) -> None:
        current = _load_dir(schemas_dir)
        if not current:
            raise UnknownSchema(f"no record schemas found in {schemas_dir}")
        self._current: dict[str, _Schema] = {s.name: s for s in current}
        self._tails: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._writers: dict[bytes, _Schema] = {s.fingerprint: s for s in current}
        for directory in history_dirs:
            for old in _load_dir(directory):
                self._writers.setdefault(old.fingerprint, old)

    @property
    def names(self) -> list[str]:
        """Full names of the current record schemas."""
        return sorted(self._current)

    def schema(self, name: str) -> Any:
        """The parsed current schema of that full name."""
        try:
            return self._current[name].parsed
        except KeyError:
            raise UnknownSchema(f"unknown schema {name!r}") from None

    def fingerprint_of(self, name: str) -> bytes:
        self.schema(name)
        return self._current[name].fingerprint

    def encode(self, name: str, record: Mapping[str, Any], *, trusted: bool = False) -> bytes:
        """Validate and encode `record` under the current schema `name`.

        `trusted`: the record was built by our own typed code (the correlator's outputs),
        so the validator runs only if the writer fails, to name the wrong field. The writer
        alone would accept e.g. "yes" for a boolean, so input from outside is never trusted.
        """
        self.schema(name)  # raises UnknownSchema
        schema = self._current[name].fast
        if not trusted:
            self._validate(name, record, schema)
        out = io.BytesIO()
        out.write(MAGIC)
        out.write(self._current[name].fingerprint)
        try:
            # strict_allow_default: a key the schema does not know (a misspelt optional
            # field) is an error, not silently dropped; omitted fields take their default.
            fastavro.schemaless_writer(out, schema, dict(record), strict_allow_default=True)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            self._validate(name, record, schema)
            raise RecordDoesNotMatchSchema(f"{name}: {exc}") from exc
        return out.getvalue()

    def fan_out(
        self, name: str, leading: tuple[str, ...], rest: Mapping[str, Any]
    ) -> Callable[[Sequence[str]], bytes]:
        """Encoder for many records of `name` that differ only in their first fields.

        `leading` names the schema's first fields, all plain strings; `rest` holds every
        other field, the same for all the records. The rest is encoded once; each record
        then costs its leading strings. The bytes equal `encode(name, record,
        trusted=True)` of the whole record (a record's encoding is its fields' encodings
        in schema order). For our own records only (nothing is validated).
        """
        tail = self._tail_schema(name, leading)
        out = io.BytesIO()
        out.write(MAGIC)
        out.write(self._current[name].fingerprint)
        head = out.getvalue()
        body = io.BytesIO()
        try:
            fastavro.schemaless_writer(body, tail, dict(rest), strict_allow_default=True)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise RecordDoesNotMatchSchema(f"{name}: {exc}") from exc
        encoded_rest = body.getvalue()

        def encode(values: Sequence[str]) -> bytes:
            parts = [head]
            for value in values:
                data = value.encode()
                parts.append(_zigzag_varint(len(data)))
                parts.append(data)
            parts.append(encoded_rest)
            return b"".join(parts)

        return encode

    def _tail_schema(self, name: str, leading: tuple[str, ...]) -> Any:
        key = (name, leading)
        if key not in self._tails:
            fields = self.schema(name)["fields"]
            head = [(f["name"], f["type"]) for f in fields[: len(leading)]]
            if head != [(field, "string") for field in leading]:
                raise UnknownSchema(f"{name} does not start with string fields {leading}")
            self._tails[key] = fastavro.parse_schema(
                {
                    "type": "record",
                    "name": f"{name}__after_{len(leading)}",
                    "fields": fields[len(leading) :],
                }
            )
        return self._tails[key]

    @staticmethod
    def _validate(name: str, record: Mapping[str, Any], schema: Any) -> None:
        # First the yes/no answer: with raise_errors=True fastavro builds (and JSON-dumps)
        # an error for every union branch a value does not take, valid or not (~3x the
        # cost). Only an invalid record is validated again, for the message.
        if validate(record, schema, raise_errors=False):
            return
        try:
            validate(record, schema, raise_errors=True)
        except fastavro.validation.ValidationError as exc:
            raise RecordDoesNotMatchSchema(f"{name}: {exc}") from exc
        raise RecordDoesNotMatchSchema(f"{name}: does not match the schema")

    def decode(self, data: bytes | None, reader: str | None = None) -> Decoded:
        """Decode a single-object-encoded message, resolving to the reader schema.

        `reader` defaults to the current schema with the writer's full name.
        """
        data = _checked_header(data)
        fp = bytes(data[2:HEADER_LEN])
        writer = self._writers.get(fp)
        if writer is None:
            raise UnknownFingerprint(f"unknown writer schema fingerprint {fp.hex()}")
        target = reader or writer.name
        if target not in self._current:
            raise UnknownSchema(
                f"writer schema {writer.name} (fingerprint {fp.hex()}) has no current schema "
                f"{target!r} to be read as"
            )
        current = self._current[target]
        # Written with the current schema itself: nothing to resolve.
        reader_schema = None if current.fingerprint == fp else current.fast
        body = io.BytesIO(data[HEADER_LEN:])
        try:
            record = fastavro.schemaless_reader(body, writer.fast, reader_schema)
        except SchemaResolutionError as exc:
            raise SchemaResolutionFailed(
                f"{writer.name} (fingerprint {fp.hex()}) cannot be read as {target}: {exc}"
            ) from exc
        except Exception as exc:  # fastavro raises many types for bad bodies
            raise CorruptPayload(f"{writer.name}: body does not decode: {exc!r}") from exc
        if body.tell() != len(data) - HEADER_LEN:
            raise CorruptPayload(
                f"{writer.name}: {len(data) - HEADER_LEN - body.tell()} trailing bytes"
            )
        if not isinstance(record, dict):
            raise CorruptPayload(f"{writer.name}: decoded to {type(record).__name__}")
        return Decoded(schema=target, record=record, fingerprint=fp)


def _zigzag_varint(value: int) -> bytes:
    """Avro's encoding of a long (zig-zag, then 7 bits a byte, low bits first)."""
    number = (value << 1) ^ (value >> 63)
    out = bytearray()
    while number > 0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _checked_header(data: bytes | None) -> bytes:
    """`data` itself, or the typed error that says why it is not a single-object message."""
    if not data:
        raise EmptyMessage("message is empty (None or zero bytes): no event to decode")
    if len(data) < HEADER_LEN:
        raise NotSingleObjectEncoded(
            f"message is {len(data)} bytes, shorter than the {HEADER_LEN}-byte "
            "single-object header (C3 01 + 8-byte fingerprint)"
        )
    if data[:2] != MAGIC:
        raise NotSingleObjectEncoded(
            f"message starts with {bytes(data[:2]).hex()}, not the Avro single-object "
            "marker c301 (not Avro single-object encoded)"
        )
    return data


def fingerprint_header(data: bytes) -> bytes:
    """The writer fingerprint of a single-object message (without decoding it)."""
    return struct.unpack_from("8s", _checked_header(data), 2)[0]  # type: ignore[no-any-return]


@lru_cache(maxsize=4)
def _codec_for(schemas_dir: Path) -> Codec:
    baseline = schemas_dir / "baseline"
    history = [baseline] if baseline.is_dir() else []
    # Older releases (`ketenbus schemas release` archives them): their data may still be
    # on the topics, so their writer schemas stay decodable.
    history += sorted((baseline / "archive").glob("release-*"), reverse=True)
    return Codec(schemas_dir, history)


def get_codec(schemas_dir: Path | None = None) -> Codec:
    """The process-wide codec over `schemas/` (parsed schemas cached)."""
    if schemas_dir is None:
        from ketenbus.settings import get_settings

        schemas_dir = get_settings().schemas_dir
    return _codec_for(schemas_dir.resolve())
