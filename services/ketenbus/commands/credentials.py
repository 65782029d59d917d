"""`ketenbus credentials issue PRINCIPAL [--rotate] | list`: SCRAM credentials and the
client config an agency's integration team is handed (docs/security.md).

`credentials_app` is the command group; other packages add subcommands to it (intake's
`token`). `issue_credentials` is the plain function behind `issue`.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ketenbus.errors import KetenbusError
from ketenbus.security.issue import issue_credentials, list_principals

__all__ = ["credentials_app", "issue_credentials", "register"]

credentials_app = typer.Typer(
    help="Principals' credentials: SCRAM secrets and client configs (never printed).",
    no_args_is_help=True,
)


@credentials_app.command("issue")
def issue_command(
    principal: Annotated[
        str, typer.Argument(help="agency code (nla, gemeente:0599), service or principal name")
    ],
    rotate: Annotated[
        bool, typer.Option("--rotate", help="replace the secret: the old one stops working")
    ] = False,
) -> None:
    """Create (or rotate) the principal's SCRAM credential and ACLs; print the path of its
    client config (<secrets dir>/<principal>.properties, 0600)."""
    try:
        path = issue_credentials(principal, rotate)
    except KetenbusError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(str(path))


@credentials_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Principals, their kind, client config file and whether the cluster knows them."""
    try:
        rows = list_principals()
    except KetenbusError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        payload = [
            {
                "principal": r.principal,
                "kind": r.kind,
                "file": str(r.file) if r.file else None,
                "on_cluster": r.on_cluster,
            }
            for r in rows
        ]
        typer.echo(json.dumps(payload, indent=2))
        return
    width = max(len(r.principal) for r in rows)
    kind_width = max(len(r.kind) for r in rows)
    for r in rows:
        cluster = {True: "on cluster", False: "NOT on cluster", None: "cluster unreachable"}
        typer.echo(
            f"{r.principal:<{width}}  {r.kind:<{kind_width}}  {cluster[r.on_cluster]:<19}"
            f"  {r.file or '(no client config)'}"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(credentials_app, name="credentials")
