"""Schema evolution guard: which changes between two schema sets break Avro resolution.

Two directions, as Avro's schema resolution defines reader and writer:

- BACKWARD: the new schemas (reader) read data written under the old ones (writer) —
  consumers upgrade first, or replay old topics.
- FORWARD: the old schemas (reader) read data written under the new ones (writer) —
  producers upgrade first while old consumers still run.

The Avro rules come from the Apache `avro` package: its parser (names, namespaces,
references) and its `avro.compatibility` module (the reader/writer checker the Karapace
schema registry builds on) decide what is readable: type promotions, name and alias
matching, field lookup by alias, enum symbols and defaults, fixed sizes. What is ours is
the walk on top that says *where* (`record.field`, `[]` for array items, `{}` for map
values) and *what*, in words, for each finding; and two rules stricter than the
specification, because they fail on real data: a changed logical type
(timestamp-millis to timestamp-micros) resolves byte-wise but misreads every value, and
bytes -> string fails on any value that is not UTF-8. Whatever the checker finds that
the walk did not phrase is still reported, in the checker's words.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from avro.compatibility import (
    ReaderWriterCompatibilityChecker,
    SchemaCompatibilityType,
    check_fixed_size,
    check_reader_enum_contains_writer_enum,
    lookup_writer_field,
    schema_name_equals,
)
from avro.errors import AvroException
from avro.name import Names
from avro.schema import (
    ArraySchema,
    EnumSchema,
    FixedSchema,
    MapSchema,
    NamedSchema,
    RecordSchema,
    Schema,
    UnionSchema,
    make_avsc_object,
)

from ketenbus.errors import KetenbusError

NAMED_KINDS = frozenset({"record", "error", "enum", "fixed"})
#: (writer, reader) pairs the specification resolves that we refuse: a string reader
#: decodes UTF-8 and fastavro raises UnicodeDecodeError on bytes that are not.
STRICTER_THAN_SPEC = frozenset({("bytes", "string")})
_UNKNOWN_TYPE = re.compile(r'Type property "([^"]+)" not a valid Avro schema')


class SchemaSetInvalid(KetenbusError):
    """A schema file is not a valid Avro schema (bad JSON, missing name, unknown type)."""


class Direction(StrEnum):
    """Which side reads: BACKWARD = new reads old data; FORWARD = old reads new data."""

    BACKWARD = "backward"
    FORWARD = "forward"


@dataclass(frozen=True)
class BreakingChange:
    """One change that makes data unreadable in one direction, located by record and field."""

    path: str
    problem: str
    direction: Direction

    def __str__(self) -> str:
        return f"{self.path}: {self.problem} (breaks {self.direction.value})"


@dataclass(frozen=True)
class SchemaSet:
    """A directory of schemas: its top-level types and every named type, by full name."""

    top_level: tuple[str, ...]
    types: Mapping[str, NamedSchema]


@dataclass(frozen=True)
class SchemaReport:
    """The verdict on one top-level schema of the new set against the old set."""

    name: str
    status: str  # unchanged | changed | added | removed
    changes: tuple[BreakingChange, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.changes


# --------------------------------------------------------------------------- parsing


def _with_full_aliases(schema: Any, namespace: str | None = None) -> Any:
    """The schema JSON with every named type's aliases written as full names.

    The specification reads a short alias relative to the type's namespace; the checker
    compares aliases with the writer's full name as written, so they are made full here.
    """
    if isinstance(schema, list):
        return [_with_full_aliases(branch, namespace) for branch in schema]
    if not isinstance(schema, Mapping):
        return schema
    copy = dict(schema)
    if copy.get("type") in NAMED_KINDS and isinstance(copy.get("name"), str):
        name = copy["name"]
        namespace = name.rpartition(".")[0] if "." in name else copy.get("namespace", namespace)
        if isinstance(copy.get("aliases"), list):
            copy["aliases"] = [
                a if "." in a or not namespace else f"{namespace}.{a}" for a in copy["aliases"]
            ]
    if isinstance(copy.get("fields"), list):
        copy["fields"] = [
            {**f, "type": _with_full_aliases(f["type"], namespace)}
            if isinstance(f, Mapping) and "type" in f
            else f
            for f in copy["fields"]
        ]
    for key in ("items", "values"):
        if key in copy:
            copy[key] = _with_full_aliases(copy[key], namespace)
    if isinstance(copy.get("type"), list | Mapping):
        copy["type"] = _with_full_aliases(copy["type"], namespace)
    return copy


def _invalid(origin: str, exc: Exception) -> SchemaSetInvalid:
    unknown = _UNKNOWN_TYPE.search(str(exc))
    if unknown:
        return SchemaSetInvalid(f"{origin}: refers to unknown type {unknown.group(1)!r}")
    return SchemaSetInvalid(f"{origin}: not a valid Avro schema: {exc}")


def parse_schema_set(schemas: Iterable[tuple[str, Any]]) -> SchemaSet:
    """A schema set from (origin, schema JSON) pairs; origins only name errors.

    Files may refer to types defined in others, in any order: each round parses what it
    can with the names known so far, until everything parsed or a round makes no progress.
    """
    pending = [(origin, _with_full_aliases(doc)) for origin, doc in schemas]
    names = Names()
    top: list[str] = []
    while pending:
        failed: list[tuple[str, Any, Exception]] = []
        for origin, doc in pending:
            trial = Names()
            trial.names = dict(names.names)  # a failed attempt leaves no half-added names
            try:
                schema = make_avsc_object(doc, trial)
            except (AvroException, TypeError, KeyError, AttributeError) as exc:
                failed.append((origin, doc, exc))
                continue
            names = trial
            if isinstance(schema, NamedSchema):
                top.append(schema.fullname)
        if len(failed) == len(pending):
            origin, _, error = failed[0]
            raise _invalid(origin, error)
        pending = [(origin, doc) for origin, doc, _ in failed]
    return SchemaSet(top_level=tuple(top), types=dict(names.names))


def load_schema_set(directory: Path) -> SchemaSet:
    """Every `*.avsc` directly in `directory` (not its subdirectories)."""
    pairs: list[tuple[str, Any]] = []
    for path in sorted(directory.glob("*.avsc")):
        try:
            pairs.append((path.name, json.loads(path.read_text())))
        except json.JSONDecodeError as exc:
            raise SchemaSetInvalid(f"{path.name}: not JSON: {exc}") from exc
    if not pairs:
        raise SchemaSetInvalid(f"no *.avsc schemas in {directory}")
    return parse_schema_set(pairs)


# ----------------------------------------------------------------------- resolution


def _logical(t: Schema) -> str | None:
    logical = t.props.get("logicalType")
    return str(logical) if logical else None


def _describe(t: Schema) -> str:
    if isinstance(t, UnionSchema):
        return "union[" + ", ".join(_describe(b) for b in t.schemas) + "]"
    if isinstance(t, ArraySchema):
        return f"array<{_describe(t.items)}>"
    if isinstance(t, MapSchema):
        return f"map<{_describe(t.values)}>"
    if isinstance(t, NamedSchema):
        return str(t.fullname)
    logical = _logical(t)
    return f"{t.type}({logical})" if logical else str(t.type)


@dataclass
class _Resolver:
    """Walks writer types against reader types; findings are phrased old → new."""

    direction: Direction
    checker: ReaderWriterCompatibilityChecker = field(
        default_factory=ReaderWriterCompatibilityChecker
    )
    _named: dict[tuple[int, int], list[BreakingChange]] = field(default_factory=dict)

    # old/new as the user changed them, whichever side reads.
    def _old_new(self, w: str, r: str) -> tuple[str, str]:
        return (w, r) if self.direction is Direction.BACKWARD else (r, w)

    def _breaking(self, path: str, problem: str) -> BreakingChange:
        return BreakingChange(path=path, problem=problem, direction=self.direction)

    def readable(self, w: Schema, r: Schema) -> bool:
        """The checker's verdict, with our stricter rule for bytes -> string."""
        if (w.type, r.type) in STRICTER_THAN_SPEC:
            return False
        verdict = self.checker.get_compatibility(r, w).compatibility
        return verdict is SchemaCompatibilityType.compatible

    def matches(self, w: Schema, r: Schema) -> bool:
        """Avro's branch matching: promotable primitive, same (aliased) name, same container."""
        if isinstance(w, NamedSchema):
            return w.type == r.type and isinstance(r, NamedSchema) and schema_name_equals(r, w)
        if isinstance(w, ArraySchema | MapSchema):
            return w.type == r.type  # their contents are resolved after matching
        return not isinstance(r, NamedSchema | ArraySchema | MapSchema) and self.readable(w, r)

    def resolve(self, w: Schema, r: Schema, path: str) -> list[BreakingChange]:
        """Every reason data of type `w` at `path` cannot be read as `r`."""
        if isinstance(w, UnionSchema) or isinstance(r, UnionSchema):
            return self._resolve_union(w, r, path)
        if not self.matches(w, r):
            return [self._type_changed(w, r, path)]
        found: list[BreakingChange] = []
        if _logical(w) != _logical(r) and w.type == r.type:
            old, new = self._old_new(str(_logical(w)), str(_logical(r)))
            found.append(self._breaking(path, f"logical type changed {old} → {new}"))
        if isinstance(w, ArraySchema) and isinstance(r, ArraySchema):
            found += self.resolve(w.items, r.items, path + "[]")
        elif isinstance(w, MapSchema) and isinstance(r, MapSchema):
            found += self.resolve(w.values, r.values, path + "{}")
        elif isinstance(w, NamedSchema) and isinstance(r, NamedSchema):
            found += self.resolve_named(w, r)
        return found

    def _type_changed(self, w: Schema, r: Schema, path: str) -> BreakingChange:
        old, new = self._old_new(_describe(w), _describe(r))
        if isinstance(w, NamedSchema) and isinstance(r, NamedSchema) and w.type == r.type:
            return self._breaking(path, f"{w.type} renamed {old} → {new} without alias")
        return self._breaking(
            path, f"type changed {old} → {new} ({_describe(w)} is not readable as {_describe(r)})"
        )

    def _resolve_union(self, w: Schema, r: Schema, path: str) -> list[BreakingChange]:
        w_branches = w.schemas if isinstance(w, UnionSchema) else [w]
        r_branches = r.schemas if isinstance(r, UnionSchema) else [r]
        found: list[BreakingChange] = []
        for wb in w_branches:
            target = next((rb for rb in r_branches if self.matches(wb, rb)), None)
            if target is not None:
                found += self.resolve(wb, target, path)
            elif isinstance(w, UnionSchema) and isinstance(r, UnionSchema):
                verb = "removed" if self.direction is Direction.BACKWARD else "added"
                old, new = self._old_new(_describe(w), _describe(r))
                problem = f"union branch {_describe(wb)} {verb} (type changed {old} → {new})"
                found.append(self._breaking(path, problem))
            else:
                found.append(self._type_changed(w, r, path))
                break
        return found

    def resolve_named(self, w: NamedSchema, r: NamedSchema) -> list[BreakingChange]:
        """Findings inside a named type pair; computed once, reused by every use site."""
        key = (id(w), id(r))
        if key in self._named:  # done, or in progress (a recursive type)
            return self._named[key]
        found: list[BreakingChange] = []
        self._named[key] = found
        if isinstance(w, RecordSchema) and isinstance(r, RecordSchema):
            found += self._resolve_record(w, r)
        elif isinstance(w, EnumSchema) and isinstance(r, EnumSchema):
            found += self._resolve_enum(w, r)
        elif isinstance(w, FixedSchema) and isinstance(r, FixedSchema):
            found += self._resolve_fixed(w, r)
        return found

    def _resolve_fixed(self, w: FixedSchema, r: FixedSchema) -> list[BreakingChange]:
        if check_fixed_size(r, w, []).compatibility is not SchemaCompatibilityType.incompatible:
            return []
        old, new = self._old_new(str(w.size), str(r.size))
        return [self._breaking(r.fullname, f"fixed size changed {old} → {new}")]

    def _resolve_record(self, w: RecordSchema, r: RecordSchema) -> list[BreakingChange]:
        found: list[BreakingChange] = []
        # Report under the new name: that is the one the user edits.
        record = r.fullname if self.direction is Direction.BACKWARD else w.fullname
        for rf in r.fields:
            wf = lookup_writer_field(writer_schema=w, reader_field=rf)
            if wf is None:
                if not rf.has_default:
                    if self.direction is Direction.BACKWARD:
                        problem = "field added without default"
                    else:
                        problem = "field removed (or renamed) and the old schema has no default"
                    found.append(self._breaking(f"{record}.{rf.name}", problem))
                continue
            new_field = rf if self.direction is Direction.BACKWARD else wf
            found += self.resolve(wf.type, rf.type, f"{record}.{new_field.name}")
        return found

    def _resolve_enum(self, w: EnumSchema, r: EnumSchema) -> list[BreakingChange]:
        verdict = check_reader_enum_contains_writer_enum(r, w, [])
        if verdict.compatibility is not SchemaCompatibilityType.incompatible:
            return []  # every symbol known, or unknown ones read as the reader's default
        name = r.fullname if self.direction is Direction.BACKWARD else w.fullname
        verb = "removed and the enum" if self.direction is Direction.BACKWARD else "added and"
        owner = "" if self.direction is Direction.BACKWARD else " the old enum"
        return [
            self._breaking(name, f"enum symbol {symbol} {verb}{owner} has no default")
            for symbol in w.symbols
            if symbol not in r.symbols
        ]

    def unphrased(self, w: Schema, r: Schema, path: str) -> list[BreakingChange]:
        """What the checker finds that the walk did not: reported in the checker's words."""
        verdict = self.checker.get_compatibility(r, w)
        if verdict.compatibility is not SchemaCompatibilityType.incompatible:
            return []
        return [self._breaking(path, f"avro: {message}") for message in sorted(verdict.messages)]


def _counterpart(name: str, schemas: SchemaSet) -> str | None:
    """The type in `schemas` that `name` resolves to: same full name, or aliased to it."""
    if name in schemas.types:
        return name
    return next((n for n, t in schemas.types.items() if name in _aliases(t)), None)


def _aliases(schema: NamedSchema) -> list[str]:
    aliases = schema.props.get("aliases")
    return [str(a) for a in aliases] if isinstance(aliases, list) else []


def breaking_changes(old: SchemaSet, new: SchemaSet, direction: Direction) -> list[BreakingChange]:
    """Every breaking change of every top-level schema of `old` in one direction."""
    return [c for report in compare(old, new, (direction,)) for c in report.changes]


def _changes(
    old: SchemaSet, new: SchemaSet, name: str, counterpart: str, wanted: Iterable[Direction]
) -> tuple[BreakingChange, ...]:
    found: list[BreakingChange] = []
    for direction in wanted:
        resolver = _Resolver(direction=direction)
        before, after = old.types[name], new.types[counterpart]
        writer, reader = (before, after) if direction is Direction.BACKWARD else (after, before)
        phrased = resolver.resolve(writer, reader, counterpart)
        found += phrased or resolver.unphrased(writer, reader, counterpart)
    return tuple(dict.fromkeys(found))  # a shared type reached twice is reported once


def compare(
    old: SchemaSet,
    new: SchemaSet,
    directions: Iterable[Direction] = (Direction.BACKWARD, Direction.FORWARD),
) -> list[SchemaReport]:
    """One report per top-level schema of either set, in name order."""
    wanted = tuple(directions)
    reports: list[SchemaReport] = []
    matched_new: set[str] = set()
    for name in sorted(old.top_level):
        counterpart = _counterpart(name, new)
        if counterpart is None:
            changes: tuple[BreakingChange, ...] = ()
            if Direction.BACKWARD in wanted:
                problem = "schema removed: data written under it can no longer be read"
                changes = (BreakingChange(name, problem, Direction.BACKWARD),)
            reports.append(SchemaReport(name=name, status="removed", changes=changes))
            continue
        matched_new.add(counterpart)
        same = _as_json(old.types[name]) == _as_json(new.types[counterpart])
        reports.append(
            SchemaReport(
                name=counterpart,
                status="unchanged" if same else "changed",
                changes=_changes(old, new, name, counterpart, wanted),
            )
        )
    for name in sorted(set(new.top_level) - matched_new):
        reports.append(SchemaReport(name=name, status="added"))
    return sorted(reports, key=lambda report: report.name)


def _as_json(schema: Schema) -> str:
    """The type and every named type it reaches (to tell changed from unchanged)."""
    return json.dumps(schema.to_json(Names()), sort_keys=True)
