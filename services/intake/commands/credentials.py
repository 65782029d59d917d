"""`ketenbus credentials token AGENCY | intake-client AGENCY [--rotate] | intake-clients`:
the intake side of the credentials group (bearer tokens for the agency services' HTTP
API). Thin over `intake.clients`; the Kafka side (`credentials issue`) lives with the
broker security commands and also issues the intake client.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Annotated, Any

import typer

credentials_app = typer.Typer(
    help="Credentials of agencies and services: Kafka principals and intake API clients.",
    no_args_is_help=True,
)


@credentials_app.command("token")
def token(
    agency: Annotated[str, typer.Argument(help="agency code, e.g. gemeente:0599 or nla")],
) -> None:
    """Print a fresh bearer token (JWT) for AGENCY's intake client, for curl and scripts.

    Valid for KETENBUS_INTAKE_TOKEN_MAX_AGE_SECONDS (default 300 s). In dev/test the
    client is created when missing.
    """
    from intake.clients import ClientError, make_token
    from ketenbus.errors import KetenbusError

    try:
        typer.echo(make_token(agency))
    except (ClientError, KetenbusError) as exc:
        typer.echo(f"ketenbus credentials token: {exc}", err=True)
        raise typer.Exit(2) from None


@credentials_app.command("intake-client")
def intake_client(
    agency: Annotated[str, typer.Argument(help="agency code, e.g. gemeente:0599 or nla")],
    rotate: Annotated[
        bool, typer.Option("--rotate", help="replace the secret; the old one stops working")
    ] = False,
) -> None:
    """Create AGENCY's intake client (or rotate its secret) and print its registry file."""
    from intake.clients import issue_intake_client
    from ketenbus.errors import KetenbusError

    try:
        client = issue_intake_client(agency, rotate=rotate)
    except KetenbusError as exc:
        typer.echo(f"ketenbus credentials intake-client: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(str(client.path))


@credentials_app.command("intake-clients")
def intake_clients() -> None:
    """List the intake clients: client id and the agencies each may publish for."""
    from intake.clients import list_intake_clients

    for client in list_intake_clients():
        typer.echo(f"{client.client_id}\t{','.join(client.agencies)}\t{client.issued_at}")


def _agency_of(principal: str) -> str | None:
    """The agency a `credentials issue` argument names (`gemeente:0599`, `gemeente-0599`,
    `nla`), or None for a backbone service's principal."""
    from ketenbus.agencies import InvalidAgency, validate_agency

    candidate = re.sub(r"^gemeente-(\d{4})$", r"gemeente:\1", principal)
    try:
        return validate_agency(candidate)
    except InvalidAgency:
        return None


def _also_issue_intake_client(issue: Callable[..., Any]) -> Callable[..., Any]:
    """`credentials issue AGENCY [--rotate]` also issues (rotates) AGENCY's intake client."""

    @functools.wraps(issue)
    def issue_both(*args: Any, **kwargs: Any) -> Any:
        result = issue(*args, **kwargs)
        principal = kwargs.get("principal", args[0] if args else "")
        agency = _agency_of(str(principal))
        if agency is not None and is_agency(agency):
            from intake.clients import issue_intake_client

            client = issue_intake_client(agency, rotate=bool(kwargs.get("rotate", False)))
            typer.echo(str(client.path))
        return result

    return issue_both


def is_agency(agency: str) -> bool:
    """Whether topics.yaml declares `agency` (municipalities: by the pattern entry)."""
    from ketenbus.errors import KetenbusError
    from ketenbus.settings import get_settings
    from ketenbus.topics.spec import load_topics

    try:
        load_topics(get_settings().topics_file).agency(agency)
    except KetenbusError:
        return False
    return True


def register(app: typer.Typer) -> None:
    """Add the intake commands to the `credentials` group: to the one the Kafka security
    commands registered already (entry points load in name order, `credentials` before
    `intake-credentials`), whose `issue` then also issues an agency's intake client; else
    as a group of their own."""
    for group in app.registered_groups:
        if group.name == "credentials" and group.typer_instance is not None:
            target = group.typer_instance
            for command in target.registered_commands:
                if command.name == "issue" and command.callback is not None:
                    command.callback = _also_issue_intake_client(command.callback)
            target.registered_commands.extend(credentials_app.registered_commands)
            return
    app.add_typer(credentials_app, name="credentials")
