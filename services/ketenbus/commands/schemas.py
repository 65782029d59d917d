"""`ketenbus schemas check | list | release`: the schema evolution guard.

`schemas/baseline/` holds the last released schema set; `check` fails on any change of
`schemas/` that breaks backward or forward compatibility against it (CI runs it), and
`release` makes the current set the new baseline, keeping the previous one under
`baseline/archive/release-<n>/` so the codec can still decode data written under it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from ketenbus.contracts.codec import Codec, CodecError
from ketenbus.contracts.compat import SchemaReport, SchemaSetInvalid, compare, load_schema_set

RELEASE_FILE = "RELEASE"
ARCHIVE_DIR = "archive"

schemas_app = typer.Typer(
    help="Avro contracts: compatibility guard against the released baseline.",
    no_args_is_help=True,
)

SchemasOption = Annotated[
    Path | None,
    typer.Option("--schemas", help="schema directory (default: settings.schemas_dir)"),
]
BaselineOption = Annotated[
    Path | None,
    typer.Option("--baseline", help="released schema set (default: <schemas>/baseline)"),
]


def _dirs(schemas: Path | None, baseline: Path | None) -> tuple[Path, Path]:
    if schemas is None:
        from ketenbus.settings import get_settings

        schemas = get_settings().schemas_dir
    return schemas, baseline if baseline is not None else schemas / "baseline"


def release_number(baseline: Path) -> int:
    """The release the baseline holds (0 when nothing was released yet)."""
    marker = baseline / RELEASE_FILE
    return int(marker.read_text().strip()) if marker.is_file() else 0


def _reports(schemas: Path, baseline: Path) -> list[SchemaReport]:
    """Compatibility reports; raises SchemaSetInvalid when a set does not parse or load."""
    new = load_schema_set(schemas)
    try:
        Codec(schemas)  # what every service does at start: fastavro must accept the set
    except CodecError:
        raise
    except Exception as exc:  # fastavro raises its own parse errors
        raise SchemaSetInvalid(f"{schemas}: fastavro cannot load the schemas: {exc}") from exc
    if not baseline.is_dir() or not any(baseline.glob("*.avsc")):
        raise SchemaSetInvalid(
            f"no released baseline in {baseline} (run `ketenbus schemas release`)"
        )
    return compare(load_schema_set(baseline), new)


def _print_reports(reports: list[SchemaReport]) -> int:
    broken = 0
    for report in reports:
        if report.ok:
            typer.echo(f"OK        {report.name} ({report.status})")
            continue
        broken += 1
        typer.echo(f"BREAKING  {report.name} ({report.status})")
        for change in report.changes:
            typer.echo(f"    {change}")
    return broken


@schemas_app.command("check")
def check(schemas: SchemasOption = None, baseline: BaselineOption = None) -> None:
    """Compare schemas/ with the released baseline; exit 1 on any breaking change."""
    schemas_dir, baseline_dir = _dirs(schemas, baseline)
    try:
        reports = _reports(schemas_dir, baseline_dir)
    except (SchemaSetInvalid, CodecError) as exc:
        typer.echo(f"INVALID   {exc}", err=True)
        raise typer.Exit(1) from exc
    broken = _print_reports(reports)
    release = release_number(baseline_dir)
    if broken:
        typer.echo(
            f"{broken} schema(s) break compatibility with release {release} ({baseline_dir}); "
            "add defaults/aliases, or publish the change under a new schema name and topic."
        )
        raise typer.Exit(1)
    typer.echo(f"all {len(reports)} schemas compatible with release {release} (backward+forward)")


@schemas_app.command("list")
def list_schemas(schemas: SchemasOption = None, baseline: BaselineOption = None) -> None:
    """Print each record schema's full name and CRC-64-AVRO fingerprint (the header's id)."""
    schemas_dir, baseline_dir = _dirs(schemas, baseline)
    current = Codec(schemas_dir)
    released: set[bytes] = set()
    if baseline_dir.is_dir() and any(baseline_dir.glob("*.avsc")):
        old = Codec(baseline_dir)
        released = {old.fingerprint_of(name) for name in old.names}
    for name in current.names:
        fp = current.fingerprint_of(name)
        state = "released" if fp in released else "unreleased"
        typer.echo(f"{fp.hex()}  {name}  {state}")


@schemas_app.command("release")
def release(
    schemas: SchemasOption = None,
    baseline: BaselineOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="release even if the check finds breaking changes")
    ] = False,
) -> None:
    """Make the current schemas the released baseline (the release step; commit the result)."""
    schemas_dir, baseline_dir = _dirs(schemas, baseline)
    previous = release_number(baseline_dir)
    if baseline_dir.is_dir() and any(baseline_dir.glob("*.avsc")):
        try:
            broken = [r for r in _reports(schemas_dir, baseline_dir) if not r.ok]
        except (SchemaSetInvalid, CodecError) as exc:
            typer.echo(f"INVALID   {exc}", err=True)
            raise typer.Exit(1) from exc
        if broken and not force:
            _print_reports(broken)
            typer.echo("refusing to release breaking changes (use --force for a deliberate break)")
            raise typer.Exit(1)
        # Keep the outgoing release: its writer schemas still decode data on the topics.
        archive = baseline_dir / ARCHIVE_DIR / f"release-{previous}"
        archive.mkdir(parents=True, exist_ok=True)
        for path in baseline_dir.glob("*.avsc"):
            shutil.move(path, archive / path.name)
    baseline_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(schemas_dir.glob("*.avsc")):
        shutil.copy2(path, baseline_dir / path.name)
    (baseline_dir / RELEASE_FILE).write_text(f"{previous + 1}\n")
    typer.echo(f"released schema set {previous + 1} into {baseline_dir}")


def register(app: typer.Typer) -> None:
    """Add the `schemas` command group."""
    app.add_typer(schemas_app, name="schemas")
