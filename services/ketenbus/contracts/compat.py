"""Schema evolution guard: which changes between two schema sets break Avro resolution.

Two directions, as Avro's schema resolution defines reader and writer:

- BACKWARD: the new schemas (reader) read data written under the old ones (writer) —
  consumers upgrade first, or replay old topics.
- FORWARD: the old schemas (reader) read data written under the new ones (writer) —
  producers upgrade first while old consumers still run.

The checks are structural (the rules of the Avro specification, "Schema Resolution")
rather than trial decoding, so every finding names the record and field it is about.
Two rules are stricter than the specification, because they fail on real data: a changed
logical type (timestamp-millis to timestamp-micros) resolves byte-wise but misreads every
value, and bytes -> string fails on any value that is not UTF-8.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from ketenbus.errors import KetenbusError

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED_KINDS = frozenset({"record", "error", "enum", "fixed"})

#: writer type -> reader types it is promoted to (Avro spec, "Schema Resolution"), except
#: bytes -> string: the spec allows it, but a string reader decodes UTF-8 and fastavro
#: raises UnicodeDecodeError on bytes that are not, so old bytes data could stop a reader.
PROMOTIONS: dict[str, frozenset[str]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
}

#: A normalised type: a primitive name, a named-type reference (full name), a dict for
#: array/map/logical primitive, or a list for a union.
Type = Any


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
    types: Mapping[str, Mapping[str, Any]]

    def kind(self, name: str) -> str:
        return str(self.types[name]["type"])


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


def _full_name(name: str, namespace: str | None) -> str:
    if "." in name or not namespace:
        return name
    return f"{namespace}.{name}"


class _Parser:
    """Normalises schema JSON: full names everywhere, named types lifted into a registry."""

    def __init__(self) -> None:
        self.types: dict[str, dict[str, Any]] = {}

    def parse(self, schema: Any, namespace: str | None, where: str) -> Type:
        if isinstance(schema, str):
            return schema if schema in PRIMITIVES else _full_name(schema, namespace)
        if isinstance(schema, list):
            return [self.parse(branch, namespace, where) for branch in schema]
        if not isinstance(schema, Mapping) or "type" not in schema:
            raise SchemaSetInvalid(f"{where}: not an Avro schema: {schema!r}")
        kind = schema["type"]
        if isinstance(kind, (list, Mapping)):  # {"type": {"type": "array", ...}}
            return self.parse(kind, namespace, where)
        if kind in PRIMITIVES:
            logical = schema.get("logicalType")
            return {"type": kind, "logicalType": logical} if logical else kind
        if kind == "array":
            return {"type": "array", "items": self.parse(schema["items"], namespace, where)}
        if kind == "map":
            return {"type": "map", "values": self.parse(schema["values"], namespace, where)}
        if kind in NAMED_KINDS:
            return self._named(schema, namespace, where)
        if isinstance(kind, str):  # a reference written as {"type": "ns.Name"}
            return _full_name(kind, namespace)
        raise SchemaSetInvalid(f"{where}: unknown type {kind!r}")

    def _named(self, schema: Mapping[str, Any], namespace: str | None, where: str) -> str:
        if "name" not in schema:
            raise SchemaSetInvalid(f"{where}: a {schema['type']} without a name")
        name = _full_name(schema["name"], schema.get("namespace", namespace))
        own_ns = name.rpartition(".")[0] or None
        normal: dict[str, Any] = {
            "type": "record" if schema["type"] == "error" else schema["type"],
            "name": name,
            "aliases": [_full_name(a, own_ns) for a in schema.get("aliases", [])],
        }
        if name in self.types:
            raise SchemaSetInvalid(f"{where}: type {name} is defined twice")
        self.types[name] = normal  # before the fields: records may refer to themselves
        if normal["type"] == "record":
            normal["fields"] = [
                {
                    "name": f["name"],
                    "type": self.parse(f["type"], own_ns, f"{name}.{f['name']}"),
                    "has_default": "default" in f,
                    "default": f.get("default"),
                    "aliases": list(f.get("aliases", [])),
                }
                for f in schema.get("fields", [])
            ]
        elif normal["type"] == "enum":
            normal["symbols"] = list(schema.get("symbols", []))
            normal["default"] = schema.get("default")
        else:
            normal["size"] = schema.get("size")
        return name


def parse_schema_set(schemas: Iterable[tuple[str, Any]]) -> SchemaSet:
    """A schema set from (origin, schema JSON) pairs; origins only name errors."""
    parser = _Parser()
    top: list[str] = []
    for origin, schema in schemas:
        parsed = parser.parse(schema, None, origin)
        if isinstance(parsed, str) and parsed not in PRIMITIVES:
            top.append(parsed)
    for name, named in parser.types.items():
        for ref in _references(named):
            if ref not in parser.types:
                raise SchemaSetInvalid(f"{name}: refers to unknown type {ref!r}")
    return SchemaSet(top_level=tuple(top), types=parser.types)


def _references(named: Mapping[str, Any]) -> Iterable[str]:
    def walk(t: Type) -> Iterable[str]:
        if isinstance(t, str):
            if t not in PRIMITIVES:
                yield t
        elif isinstance(t, list):
            for branch in t:
                yield from walk(branch)
        elif t["type"] == "array":
            yield from walk(t["items"])
        elif t["type"] == "map":
            yield from walk(t["values"])

    for f in named.get("fields", []):
        yield from walk(f["type"])


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


def _describe(t: Type) -> str:
    if isinstance(t, str):
        return t
    if isinstance(t, list):
        return "union[" + ", ".join(_describe(b) for b in t) + "]"
    if t["type"] == "array":
        return f"array<{_describe(t['items'])}>"
    if t["type"] == "map":
        return f"map<{_describe(t['values'])}>"
    return f"{t['type']}({t['logicalType']})"


def _base(t: Type) -> Type:
    """A primitive without its logical type; other types unchanged."""
    if isinstance(t, Mapping) and t["type"] in PRIMITIVES:
        return t["type"]
    return t


def _logical(t: Type) -> str | None:
    return t.get("logicalType") if isinstance(t, Mapping) else None


@dataclass
class _Resolver:
    """Resolves writer types against reader types; findings are phrased old → new."""

    writer: SchemaSet
    reader: SchemaSet
    direction: Direction
    _named: dict[tuple[str, str], list[BreakingChange]] = field(default_factory=dict)

    # old/new as the user changed them, whichever side reads.
    def _old_new(self, w: str, r: str) -> tuple[str, str]:
        return (w, r) if self.direction is Direction.BACKWARD else (r, w)

    def _breaking(self, path: str, problem: str) -> BreakingChange:
        return BreakingChange(path=path, problem=problem, direction=self.direction)

    def _is_named(self, t: Type, schemas: SchemaSet) -> bool:
        return isinstance(t, str) and t in schemas.types

    def _names_match(self, w_name: str, r_name: str) -> bool:
        return w_name == r_name or w_name in self.reader.types[r_name]["aliases"]

    def matches(self, w: Type, r: Type) -> bool:
        """Avro's branch matching: same kind, promotable primitive, or same (aliased) name."""
        wb, rb = _base(w), _base(r)
        if isinstance(wb, str) and wb in PRIMITIVES:
            return isinstance(rb, str) and (wb == rb or rb in PROMOTIONS.get(wb, ()))
        if self._is_named(wb, self.writer):
            return (
                self._is_named(rb, self.reader)
                and self.writer.kind(wb) == self.reader.kind(rb)
                and self._names_match(wb, rb)
            )
        # Two arrays (or two maps) match; their items are resolved after matching.
        return isinstance(wb, Mapping) and isinstance(rb, Mapping) and wb["type"] == rb["type"]

    def resolve(self, w: Type, r: Type, path: str) -> list[BreakingChange]:
        """Every reason data of type `w` at `path` cannot be read as `r`."""
        if isinstance(w, list) or isinstance(r, list):
            return self._resolve_union(w, r, path)
        if not self.matches(w, r):
            return [self._type_changed(w, r, path)]
        found: list[BreakingChange] = []
        if _logical(w) != _logical(r) and _base(w) == _base(r):
            old, new = self._old_new(str(_logical(w)), str(_logical(r)))
            found.append(self._breaking(path, f"logical type changed {old} → {new}"))
        wb, rb = _base(w), _base(r)
        if isinstance(wb, Mapping):  # array or map: resolve the contents
            inner, mark = ("items", "[]") if wb["type"] == "array" else ("values", "{}")
            found += self.resolve(wb[inner], rb[inner], path + mark)
        elif self._is_named(wb, self.writer):
            found += self.resolve_named(wb, rb)
        return found

    def _type_changed(self, w: Type, r: Type, path: str) -> BreakingChange:
        old, new = self._old_new(_describe(w), _describe(r))
        if self._is_named(_base(w), self.writer) and self._is_named(_base(r), self.reader):
            wk, rk = self.writer.kind(w), self.reader.kind(r)
            if wk == rk:
                return self._breaking(path, f"{wk} renamed {old} → {new} without alias")
        return self._breaking(
            path, f"type changed {old} → {new} ({_describe(w)} is not readable as {_describe(r)})"
        )

    def _resolve_union(self, w: Type, r: Type, path: str) -> list[BreakingChange]:
        w_branches = w if isinstance(w, list) else [w]
        r_branches = r if isinstance(r, list) else [r]
        found: list[BreakingChange] = []
        for wb in w_branches:
            target = next((rb for rb in r_branches if self.matches(wb, rb)), None)
            if target is not None:
                found += self.resolve(wb, target, path)
            elif isinstance(w, list) and isinstance(r, list):
                verb = "removed" if self.direction is Direction.BACKWARD else "added"
                old, new = self._old_new(_describe(w), _describe(r))
                problem = f"union branch {_describe(wb)} {verb} (type changed {old} → {new})"
                found.append(self._breaking(path, problem))
            else:
                found.append(self._type_changed(w, r, path))
                break
        return found

    def resolve_named(self, w_name: str, r_name: str) -> list[BreakingChange]:
        """Findings inside a named type pair; computed once, reused by every use site."""
        key = (w_name, r_name)
        if key in self._named:  # done, or in progress (a recursive type)
            return self._named[key]
        found: list[BreakingChange] = []
        self._named[key] = found
        w, r = self.writer.types[w_name], self.reader.types[r_name]
        if w["type"] == "record":
            found += self._resolve_record(w, r)
        elif w["type"] == "enum":
            found += self._resolve_enum(w, r)
        elif w["size"] != r["size"]:
            old, new = self._old_new(str(w["size"]), str(r["size"]))
            found.append(self._breaking(r_name, f"fixed size changed {old} → {new}"))
        return found

    def _resolve_record(self, w: Mapping[str, Any], r: Mapping[str, Any]) -> list[BreakingChange]:
        found: list[BreakingChange] = []
        # Report under the new name: that is the one the user edits.
        record = r["name"] if self.direction is Direction.BACKWARD else w["name"]
        w_fields = {f["name"]: f for f in w["fields"]}
        for rf in r["fields"]:
            wf = next(
                (w_fields[n] for n in [rf["name"], *rf["aliases"]] if n in w_fields),
                None,
            )
            if wf is None:
                if not rf["has_default"]:
                    if self.direction is Direction.BACKWARD:
                        problem = "field added without default"
                    else:
                        problem = "field removed (or renamed) and the old schema has no default"
                    found.append(self._breaking(f"{record}.{rf['name']}", problem))
                continue
            new_field = rf if self.direction is Direction.BACKWARD else wf
            found += self.resolve(wf["type"], rf["type"], f"{record}.{new_field['name']}")
        return found

    def _resolve_enum(self, w: Mapping[str, Any], r: Mapping[str, Any]) -> list[BreakingChange]:
        if r["default"] is not None:
            return []  # unknown writer symbols read as the reader's enum default
        found: list[BreakingChange] = []
        name = r["name"] if self.direction is Direction.BACKWARD else w["name"]
        for symbol in w["symbols"]:
            if symbol in r["symbols"]:
                continue
            if self.direction is Direction.BACKWARD:
                problem = f"enum symbol {symbol} removed and the enum has no default"
            else:
                problem = f"enum symbol {symbol} added and the old enum has no default"
            found.append(self._breaking(name, problem))
        return found


def _counterpart(name: str, schemas: SchemaSet) -> str | None:
    """The type in `schemas` that `name` resolves to: same full name, or aliased to it."""
    if name in schemas.types:
        return name
    return next((n for n, t in schemas.types.items() if name in t["aliases"]), None)


def breaking_changes(old: SchemaSet, new: SchemaSet, direction: Direction) -> list[BreakingChange]:
    """Every breaking change of every top-level schema of `old` in one direction."""
    return [c for report in compare(old, new, (direction,)) for c in report.changes]


def compare(
    old: SchemaSet,
    new: SchemaSet,
    directions: Iterable[Direction] = (Direction.BACKWARD, Direction.FORWARD),
) -> list[SchemaReport]:
    """One report per top-level schema of either set, in name order."""
    resolvers = {
        Direction.BACKWARD: _Resolver(writer=old, reader=new, direction=Direction.BACKWARD),
        Direction.FORWARD: _Resolver(writer=new, reader=old, direction=Direction.FORWARD),
    }
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
        found: list[BreakingChange] = []
        for direction in wanted:
            resolver = resolvers[direction]
            writer, reader = (
                (name, counterpart) if direction is Direction.BACKWARD else (counterpart, name)
            )
            found += resolver.resolve(writer, reader, counterpart)
        unique = tuple(dict.fromkeys(found))  # a shared type reached twice is reported once
        status = "unchanged" if _closure(old, name) == _closure(new, counterpart) else "changed"
        reports.append(SchemaReport(name=counterpart, status=status, changes=unique))
    for name in sorted(set(new.top_level) - matched_new):
        reports.append(SchemaReport(name=name, status="added"))
    return sorted(reports, key=lambda report: report.name)


def _closure(schemas: SchemaSet, name: str) -> dict[str, Mapping[str, Any]]:
    """The named type and every named type it reaches (to tell changed from unchanged)."""
    seen: dict[str, Mapping[str, Any]] = {}
    pending = [name]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen[current] = schemas.types[current]
        pending.extend(_references(schemas.types[current]))
    return seen
