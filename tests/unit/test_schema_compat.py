"""The schema evolution guard: each Avro resolution rule, in both directions."""

from __future__ import annotations

import copy
import io
import json
from typing import Any, ClassVar

import avro.schema
import fastavro
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from fastavro.utils import generate_many

from ketenbus.contracts.compat import (
    BreakingChange,
    Direction,
    SchemaSet,
    SchemaSetInvalid,
    breaking_changes,
    compare,
    load_schema_set,
    parse_schema_set,
)
from ketenbus.settings import PROJECT_ROOT

NS = "nl.ketenbus.events"
BACKWARD, FORWARD = Direction.BACKWARD, Direction.FORWARD


def record(fields: list[dict[str, Any]], name: str = "Complaint", **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": NS, "fields": fields, **extra}


def enum(symbols: list[str], **extra: Any) -> dict[str, Any]:
    return {"type": "enum", "name": "Code", "namespace": NS, "symbols": symbols, **extra}


def schemas(*docs: dict[str, Any]) -> SchemaSet:
    return parse_schema_set((f"s{i}.avsc", doc) for i, doc in enumerate(docs))


def messages(old: SchemaSet, new: SchemaSet, direction: Direction) -> list[str]:
    return [str(c) for c in breaking_changes(old, new, direction)]


REF = {"name": "ref", "type": "string"}


class TestFieldAddedOrRemoved:
    """Added fields need a default for backward, removed ones a default for forward."""

    def test_field_added_without_default_breaks_backward_only(self) -> None:
        old = schemas(record([REF]))
        new = schemas(record([REF, {"name": "anonymous", "type": "boolean"}]))
        expected = [f"{NS}.Complaint.anonymous: field added without default (breaks backward)"]
        assert (expected, []) == (messages(old, new, BACKWARD), messages(old, new, FORWARD))

    def test_field_added_with_default_breaks_nothing(self) -> None:
        old = schemas(record([REF]))
        new = schemas(record([REF, {"name": "anonymous", "type": "boolean", "default": False}]))
        assert ([], []) == (messages(old, new, BACKWARD), messages(old, new, FORWARD))

    def test_field_removed_without_default_breaks_forward_only(self) -> None:
        old = schemas(record([REF, {"name": "anonymous", "type": "boolean"}]))
        new = schemas(record([REF]))
        expected = [
            f"{NS}.Complaint.anonymous: field removed (or renamed) and the old schema has "
            "no default (breaks forward)"
        ]
        assert ([], expected) == (messages(old, new, BACKWARD), messages(old, new, FORWARD))

    def test_field_removed_that_had_a_default_breaks_nothing(self) -> None:
        old = schemas(record([REF, {"name": "anonymous", "type": "boolean", "default": False}]))
        new = schemas(record([REF]))
        assert ([], []) == (messages(old, new, BACKWARD), messages(old, new, FORWARD))

    def test_field_renamed_with_alias_reads_old_data(self) -> None:
        old = schemas(record([REF, {"name": "anon", "type": "boolean"}]))
        new = schemas(record([REF, {"name": "anonymous", "type": "boolean", "aliases": ["anon"]}]))
        assert [] == messages(old, new, BACKWARD)
        assert [f"{NS}.Complaint.anon"] == [c.path for c in breaking_changes(old, new, FORWARD)]


class TestTypeChanges:
    """A field's type may only change along Avro's promotions."""

    @pytest.mark.parametrize(
        ("old_type", "new_type"),
        [
            ("int", "long"),
            ("int", "float"),
            ("int", "double"),
            ("long", "float"),
            ("long", "double"),
            ("float", "double"),
            ("string", "bytes"),
        ],
    )
    def test_promotion_keeps_backward(self, old_type: str, new_type: str) -> None:
        old = schemas(record([{"name": "n", "type": old_type}]))
        new = schemas(record([{"name": "n", "type": new_type}]))
        assert [] == messages(old, new, BACKWARD)

    def test_widening_breaks_forward_naming_the_field(self) -> None:
        old = schemas(record([{"name": "occupants_found", "type": "int"}]))
        new = schemas(record([{"name": "occupants_found", "type": "long"}]))
        expected = [
            f"{NS}.Complaint.occupants_found: type changed int → long "
            "(long is not readable as int) (breaks forward)"
        ]
        assert expected == messages(old, new, FORWARD)

    @pytest.mark.parametrize(
        ("old_type", "new_type"),
        [
            ("long", "int"),
            ("double", "float"),
            ("string", "int"),
            ("boolean", "string"),
            ("bytes", "string"),  # allowed by the spec, but non-UTF-8 bytes fail to decode
        ],
    )
    def test_non_promotable_change_breaks_backward(self, old_type: str, new_type: str) -> None:
        old = schemas(record([{"name": "n", "type": old_type}]))
        new = schemas(record([{"name": "n", "type": new_type}]))
        expected = [
            f"{NS}.Complaint.n: type changed {old_type} → {new_type} "
            f"({old_type} is not readable as {new_type}) (breaks backward)"
        ]
        assert expected == messages(old, new, BACKWARD)

    def test_logical_type_change_is_reported_both_ways(self) -> None:
        millis = {"type": "long", "logicalType": "timestamp-millis"}
        micros = {"type": "long", "logicalType": "timestamp-micros"}
        old = schemas(record([{"name": "occurred_at", "type": millis}]))
        new = schemas(record([{"name": "occurred_at", "type": micros}]))
        problem = f"{NS}.Complaint.occurred_at: logical type changed timestamp-millis → "
        assert [problem + "timestamp-micros (breaks backward)"] == messages(old, new, BACKWARD)
        assert [problem + "timestamp-micros (breaks forward)"] == messages(old, new, FORWARD)

    def test_fixed_size_change_breaks_both(self) -> None:
        fixed = {"type": "fixed", "name": "Hash", "size": 16}
        old = schemas(record([{"name": "h", "type": fixed}]))
        new = schemas(record([{"name": "h", "type": fixed | {"size": 32}}]))
        assert [f"{NS}.Hash: fixed size changed 16 → 32 (breaks backward)"] == messages(
            old, new, BACKWARD
        )
        assert 1 == len(messages(old, new, FORWARD))


class TestEnums:
    """Symbols may go or come only when the reading enum has a default."""

    def test_symbol_removed_without_default_breaks_backward(self) -> None:
        old = schemas(record([{"name": "code", "type": enum(["A", "B"])}]))
        new = schemas(record([{"name": "code", "type": enum(["A"])}]))
        expected = [
            f"{NS}.Code: enum symbol B removed and the enum has no default (breaks backward)"
        ]
        assert (expected, []) == (messages(old, new, BACKWARD), messages(old, new, FORWARD))

    def test_symbol_removed_with_enum_default_reads_old_data(self) -> None:
        old = schemas(record([{"name": "code", "type": enum(["A", "B", "OTHER"])}]))
        new = schemas(record([{"name": "code", "type": enum(["A", "OTHER"], default="OTHER")}]))
        assert [] == messages(old, new, BACKWARD)

    def test_symbol_added_breaks_forward_unless_the_old_enum_has_a_default(self) -> None:
        plain_old = schemas(record([{"name": "code", "type": enum(["A"])}]))
        plain_new = schemas(record([{"name": "code", "type": enum(["A", "B"])}]))
        expected = [
            f"{NS}.Code: enum symbol B added and the old enum has no default (breaks forward)"
        ]
        assert expected == messages(plain_old, plain_new, FORWARD)
        with_default_old = schemas(record([{"name": "code", "type": enum(["A"], default="A")}]))
        with_default_new = schemas(
            record([{"name": "code", "type": enum(["A", "B"], default="A")}])
        )
        assert [] == messages(with_default_old, with_default_new, FORWARD)

    def test_enum_renamed_without_alias_breaks(self) -> None:
        old = schemas(record([{"name": "code", "type": enum(["A"])}]))
        new = schemas(record([{"name": "code", "type": enum(["A"]) | {"name": "Kind"}}]))
        expected = [
            f"{NS}.Complaint.code: enum renamed {NS}.Code → {NS}.Kind without alias "
            "(breaks backward)"
        ]
        assert expected == messages(old, new, BACKWARD)


class TestUnions:
    """Every branch the writer may use must have a matching reader branch."""

    OPTIONAL: ClassVar[dict[str, Any]] = {
        "name": "kvk",
        "type": ["null", "string"],
        "default": None,
    }

    def test_union_branch_removed_breaks_backward(self) -> None:
        old = schemas(record([{"name": "v", "type": ["null", "string", "int"]}]))
        new = schemas(record([{"name": "v", "type": ["null", "string"]}]))
        assert [
            f"{NS}.Complaint.v: union branch int removed (type changed union[null, string, int] "
            "→ union[null, string]) (breaks backward)"
        ] == messages(old, new, BACKWARD)
        assert [] == messages(old, new, FORWARD)

    def test_union_branch_added_breaks_forward(self) -> None:
        old = schemas(record([{"name": "v", "type": ["null", "string"]}]))
        new = schemas(record([{"name": "v", "type": ["null", "string", "int"]}]))
        assert [
            f"{NS}.Complaint.v: union branch int added (type changed union[null, string] "
            "→ union[null, string, int]) (breaks forward)"
        ] == messages(old, new, FORWARD)
        assert [] == messages(old, new, BACKWARD)

    def test_optional_made_required_breaks_backward(self) -> None:
        old = schemas(record([self.OPTIONAL]))
        new = schemas(record([{"name": "kvk", "type": "string"}]))
        expected = [
            f"{NS}.Complaint.kvk: type changed union[null, string] → string "
            "(union[null, string] is not readable as string) (breaks backward)"
        ]
        assert (expected, []) == (messages(old, new, BACKWARD), messages(old, new, FORWARD))

    def test_required_made_optional_breaks_forward(self) -> None:
        old = schemas(record([{"name": "kvk", "type": "string"}]))
        new = schemas(record([self.OPTIONAL]))
        assert ([], 1) == (messages(old, new, BACKWARD), len(messages(old, new, FORWARD)))

    def test_union_branch_promoted_resolves(self) -> None:
        old = schemas(record([{"name": "n", "type": ["null", "int"]}]))
        new = schemas(record([{"name": "n", "type": ["null", "long"]}]))
        assert [] == messages(old, new, BACKWARD)


class TestNamedTypes:
    """Records and enums are matched by full name or alias, and checked recursively."""

    def test_record_renamed_without_alias_breaks_both(self) -> None:
        old = schemas(record([REF]))
        new = schemas(record([REF], name="Melding"))
        statuses = [(r.name, r.status) for r in compare(old, new)]
        assert [(f"{NS}.Complaint", "removed"), (f"{NS}.Melding", "added")] == statuses
        assert [
            f"{NS}.Complaint: schema removed: data written under it can no longer be read "
            "(breaks backward)"
        ] == messages(old, new, BACKWARD)

    def test_record_renamed_with_alias_reads_old_data_but_not_forward(self) -> None:
        old = schemas(record([REF]))
        new = schemas(record([REF], name="Melding", aliases=["Complaint"]))
        expected_forward = [
            f"{NS}.Melding: record renamed {NS}.Complaint → {NS}.Melding without alias "
            "(breaks forward)"
        ]
        assert ([], expected_forward) == (
            messages(old, new, BACKWARD),
            messages(old, new, FORWARD),
        )

    def test_nested_record_field_is_named_by_its_own_record(self) -> None:
        address = record([REF], name="Address", namespace="nl.ketenbus")
        new_address = record(
            [REF, {"name": "bag_id", "type": "string"}], name="Address", namespace="nl.ketenbus"
        )
        field = {"name": "address", "type": ["null", "nl.ketenbus.Address"], "default": None}
        old = schemas(address, record([field]))
        new = schemas(new_address, record([field]))
        by_schema = {r.name: [str(c) for c in r.changes] for r in compare(old, new)}
        expected = ["nl.ketenbus.Address.bag_id: field added without default (breaks backward)"]
        assert {"nl.ketenbus.Address": expected, f"{NS}.Complaint": expected} == by_schema

    def test_array_items_are_checked(self) -> None:
        old = schemas(record([{"name": "counts", "type": {"type": "array", "items": "long"}}]))
        new = schemas(record([{"name": "counts", "type": {"type": "array", "items": "int"}}]))
        assert [f"{NS}.Complaint.counts[]"] == [
            c.path for c in breaking_changes(old, new, BACKWARD)
        ]

    def test_map_values_are_checked(self) -> None:
        old = schemas(record([{"name": "tags", "type": {"type": "map", "values": "string"}}]))
        new = schemas(record([{"name": "tags", "type": {"type": "map", "values": "boolean"}}]))
        assert [f"{NS}.Complaint.tags{{}}"] == [
            c.path for c in breaking_changes(old, new, BACKWARD)
        ]

    def test_enum_inside_array_inside_record(self) -> None:
        def field(symbols: list[str]) -> dict[str, Any]:
            return {"name": "violations", "type": {"type": "array", "items": enum(symbols)}}

        old = schemas(record([field(["A", "B"])]))
        new = schemas(record([field(["A"])]))
        assert [f"{NS}.Code"] == [c.path for c in breaking_changes(old, new, BACKWARD)]

    def test_array_changed_to_map_breaks_both(self) -> None:
        old = schemas(record([{"name": "x", "type": {"type": "array", "items": "string"}}]))
        new = schemas(record([{"name": "x", "type": {"type": "map", "values": "string"}}]))
        assert (1, 1) == (len(messages(old, new, BACKWARD)), len(messages(old, new, FORWARD)))

    def test_recursive_record_terminates(self) -> None:
        node = record(
            [REF, {"name": "next", "type": ["null", f"{NS}.Node"], "default": None}], name="Node"
        )
        grown = copy.deepcopy(node)
        grown["fields"].append({"name": "n", "type": "int"})
        assert [f"{NS}.Node.n"] == [
            c.path for c in breaking_changes(schemas(node), schemas(grown), BACKWARD)
        ]


class TestReports:
    """Per-schema verdicts tell unchanged, compatible change, added and removed apart."""

    def test_statuses(self) -> None:
        old = schemas(record([REF]), record([REF], name="Gone"))
        new = schemas(
            record([REF, {"name": "x", "type": "int", "default": 0}]), record([REF], name="New")
        )
        assert [
            (f"{NS}.Complaint", "changed", True),
            (f"{NS}.Gone", "removed", False),
            (f"{NS}.New", "added", True),
        ] == [(r.name, r.status, r.ok) for r in compare(old, new)]

    def test_breaking_change_reads_as_path_problem_direction(self) -> None:
        change = BreakingChange(f"{NS}.Complaint.x", "field added without default", BACKWARD)
        assert f"{NS}.Complaint.x: field added without default (breaks backward)" == str(change)


class TestInvalidSchemas:
    """A set that is not valid Avro is refused with the reason, not compared."""

    def test_unknown_reference(self) -> None:
        with pytest.raises(SchemaSetInvalid, match=r"refers to unknown type 'nl\.ketenbus\.Nope'"):
            schemas(record([{"name": "x", "type": "nl.ketenbus.Nope"}]))

    def test_type_defined_twice(self) -> None:
        with pytest.raises(SchemaSetInvalid, match="already in use"):  # avro's words
            schemas(record([REF]), record([REF]))


class TestRepositorySchemas:
    """The repo's schemas/ is compatible with the released baseline both ways."""

    def test_current_schemas_pass_against_the_baseline(self) -> None:
        baseline = load_schema_set(PROJECT_ROOT / "schemas" / "baseline")
        current = load_schema_set(PROJECT_ROOT / "schemas")
        assert [] == [str(c) for r in compare(baseline, current) for c in r.changes]


def _fastavro_reads(writer: dict[str, Any], reader: dict[str, Any]) -> bool:
    """Whether fastavro resolves generated writer data to the reader schema."""
    parsed_writer = fastavro.parse_schema(copy.deepcopy(writer))
    parsed_reader = fastavro.parse_schema(copy.deepcopy(reader))
    for datum in generate_many(parsed_writer, 50):
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, parsed_writer, datum)
        buffer.seek(0)
        try:
            fastavro.schemaless_reader(buffer, parsed_writer, parsed_reader)
        except Exception:
            return False
    return True


MILLIS = {"type": "long", "logicalType": "timestamp-millis"}
EVOLUTIONS: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {
    "add-optional": ([REF], [REF, {"name": "x", "type": ["null", "int"], "default": None}]),
    "add-required": ([REF], [REF, {"name": "x", "type": "int"}]),
    "remove-required": ([REF, {"name": "x", "type": "int"}], [REF]),
    "int-to-long": ([{"name": "n", "type": "int"}], [{"name": "n", "type": "long"}]),
    "string-to-bytes": ([{"name": "s", "type": "string"}], [{"name": "s", "type": "bytes"}]),
    "optional-to-required": (
        [{"name": "s", "type": ["null", "string"], "default": None}],
        [{"name": "s", "type": "string"}],
    ),
    "enum-symbol-added": (
        [{"name": "c", "type": enum(["A", "B"])}],
        [{"name": "c", "type": enum(["A", "B", "C"])}],
    ),
    "enum-with-default": (
        [{"name": "c", "type": enum(["A", "OTHER"], default="OTHER")}],
        [{"name": "c", "type": enum(["A", "B", "OTHER"], default="OTHER")}],
    ),
    "array-items-widened": (
        [{"name": "a", "type": {"type": "array", "items": "int"}}],
        [{"name": "a", "type": {"type": "array", "items": "double"}}],
    ),
    "timestamp-kept": ([{"name": "t", "type": MILLIS}], [{"name": "t", "type": MILLIS}]),
}


class TestAgreesWithFastavro:
    """Whatever the guard calls compatible, fastavro actually reads (generated data)."""

    @pytest.mark.parametrize("case", sorted(EVOLUTIONS))
    @pytest.mark.parametrize("direction", [BACKWARD, FORWARD])
    def test_compatible_means_readable(self, case: str, direction: Direction) -> None:
        old_fields, new_fields = EVOLUTIONS[case]
        old, new = record(old_fields), record(new_fields)
        compatible = not breaking_changes(schemas(old), schemas(new), direction)
        writer, reader = (old, new) if direction is BACKWARD else (new, old)
        if compatible:
            assert _fastavro_reads(writer, reader)
        else:
            # The guard may be stricter than one sample, but these cases break on any datum.
            assert not _fastavro_reads(writer, reader) or case == "enum-symbol-added"


class TestAgreesWithAvroChecker:
    """Whatever Apache avro's reader/writer checker refuses, the guard reports too."""

    @pytest.mark.parametrize("case", sorted(EVOLUTIONS))
    @pytest.mark.parametrize("direction", [BACKWARD, FORWARD])
    def test_checker_refusal_is_reported(self, case: str, direction: Direction) -> None:
        old_fields, new_fields = EVOLUTIONS[case]
        old, new = record(old_fields), record(new_fields)
        writer, reader = (old, new) if direction is BACKWARD else (new, old)
        verdict = ReaderWriterCompatibilityChecker().get_compatibility(
            avro.schema.parse(json.dumps(reader)), avro.schema.parse(json.dumps(writer))
        )
        refused = verdict.compatibility is SchemaCompatibilityType.incompatible
        reported = bool(breaking_changes(schemas(old), schemas(new), direction))
        assert (refused or reported) == reported
