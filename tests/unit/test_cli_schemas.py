"""`ketenbus schemas check | list | release` on temporary copies of the repo's schemas."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from ketenbus.commands.schemas import register
from ketenbus.contracts.codec import Codec, get_codec
from ketenbus.contracts.examples import example
from ketenbus.settings import PROJECT_ROOT

COMPLAINT = "nl.ketenbus.events.Complaint"


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """schemas/ and its released baseline, copied so a test may change them."""
    target = tmp_path / "schemas"
    shutil.copytree(PROJECT_ROOT / "schemas", target)
    return target


def add_complaint_field(schemas: Path, field: dict[str, Any]) -> None:
    path = schemas / f"{COMPLAINT}.avsc"
    schema = json.loads(path.read_text())
    schema["fields"].append(field)
    path.write_text(json.dumps(schema, indent=2))


def run(*args: str) -> tuple[int, str]:
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


class TestSchemasCheck:
    """`schemas check` passes compatible changes and fails incompatible ones, naming the field."""

    def test_repository_schemas_pass(self) -> None:
        code, output = run("schemas", "check")
        assert (0, True) == (code, "compatible with release 1" in output)

    def test_incompatible_change_fails_naming_the_field(self, repo_copy: Path) -> None:
        add_complaint_field(repo_copy, {"name": "channel", "type": "string"})
        code, output = run("schemas", "check", "--schemas", str(repo_copy))
        expected = f"{COMPLAINT}.channel: field added without default (breaks backward)"
        assert (1, True, True) == (code, expected in output, f"BREAKING  {COMPLAINT}" in output)

    def test_compatible_change_passes(self, repo_copy: Path) -> None:
        field = {"name": "channel", "type": ["null", "string"], "default": None}
        add_complaint_field(repo_copy, field)
        code, output = run("schemas", "check", "--schemas", str(repo_copy))
        assert (0, True) == (code, f"OK        {COMPLAINT} (changed)" in output)

    def test_invalid_schema_fails_with_the_reason(self, repo_copy: Path) -> None:
        add_complaint_field(repo_copy, {"name": "channel", "type": "nl.ketenbus.Channel"})
        code, output = run("schemas", "check", "--schemas", str(repo_copy))
        assert (1, True) == (code, "unknown type 'nl.ketenbus.Channel'" in output)

    def test_explicit_baseline_directory(self, repo_copy: Path, tmp_path: Path) -> None:
        elsewhere = tmp_path / "released"
        shutil.copytree(repo_copy / "baseline", elsewhere)
        add_complaint_field(repo_copy, {"name": "channel", "type": "string"})
        code, _ = run("schemas", "check", "--schemas", str(repo_copy), "--baseline", str(elsewhere))
        assert 1 == code


class TestSchemasList:
    """`schemas list` prints each record schema with the fingerprint its messages carry."""

    def test_lists_fingerprints_and_release_state(self, repo_copy: Path) -> None:
        add_complaint_field(repo_copy, {"name": "channel", "type": "string", "default": "web"})
        code, output = run("schemas", "list", "--schemas", str(repo_copy))
        fp = Codec(repo_copy).fingerprint_of(COMPLAINT).hex()
        sanction = Codec(repo_copy).fingerprint_of("nl.ketenbus.events.Sanction").hex()
        lines = output.splitlines()
        assert (0, True, True) == (
            code,
            f"{fp}  {COMPLAINT}  unreleased" in lines,
            f"{sanction}  nl.ketenbus.events.Sanction  released" in lines,
        )


class TestSchemasRelease:
    """`schemas release` moves the baseline forward and keeps the old writers decodable."""

    def test_release_archives_the_previous_set_and_old_data_stays_readable(
        self, repo_copy: Path
    ) -> None:
        written_under_release_1 = Codec(repo_copy).encode(COMPLAINT, example(COMPLAINT))
        add_complaint_field(repo_copy, {"name": "channel", "type": "string", "default": "web"})
        code, output = run("schemas", "release", "--schemas", str(repo_copy))
        baseline = repo_copy / "baseline"
        decoded = get_codec(repo_copy).decode(written_under_release_1).record
        assert (0, "released schema set 2", "2") == (
            code,
            output.split(" into")[0],
            (baseline / "RELEASE").read_text().strip(),
        )
        assert (baseline / "archive" / "release-1" / f"{COMPLAINT}.avsc").is_file()
        assert example(COMPLAINT) | {"channel": "web"} == decoded

    def test_release_refuses_a_breaking_change(self, repo_copy: Path) -> None:
        add_complaint_field(repo_copy, {"name": "channel", "type": "string"})
        code, output = run("schemas", "release", "--schemas", str(repo_copy))
        assert (1, True, "1") == (
            code,
            "refusing to release" in output,
            (repo_copy / "baseline" / "RELEASE").read_text().strip(),
        )
