"""`ketenbus notifications --agency CODE`: what one agency was told, in order."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ketenbus.agencies import InvalidAgency, validate_agency

console = Console()


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def notifications(
    agency: Annotated[str, typer.Option(help="agency code, e.g. gemeente:0599, nla")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON array")] = False,
) -> None:
    """The notifications an agency received on its own topic (each id once)."""
    from correlator.projection import load_notifications

    try:
        validate_agency(agency)
    except InvalidAgency as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    found = load_notifications(agency)
    if as_json:
        _print_json(found)
        return
    table = Table(title=f"{len(found)} notifications for {agency}")
    for column in ("issued (event time)", "case", "status", "changes", "violations"):
        table.add_column(column)
    for note in found:
        table.add_row(
            note["issued_at"],
            note["case_id"],
            note["status"],
            "\n".join(note["changes"][:6]) + ("\n..." if len(note["changes"]) > 6 else ""),
            ", ".join(note["violations"]),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("notifications")(notifications)
