"""The `ketenbus` command line: one entry point composed from the commands packages register.

Each package that brings commands declares them as entry points in the group
`ketenbus.commands` (see pyproject.toml): `name = "package.commands.module:register"`, where
`register(app)` adds that group's commands. The common package therefore imports no
service: an adapter made by `ketenbus new-adapter`, or any installed package, adds its own
commands the same way. A command module that fails to import is an error that names it,
never a silently missing command. Modules import their heavy dependencies (faust) lazily,
so `ketenbus kafka status` stays quick.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

import typer

from ketenbus.errors import KetenbusError

#: The entry-point group every package registers its commands in.
COMMAND_GROUP = "ketenbus.commands"

app = typer.Typer(
    help="ketenbus: the event-sourced coordination backbone between Dutch agencies.",
    no_args_is_help=True,
    add_completion=False,
)


class CommandModuleBroken(KetenbusError):
    """A registered command module could not be imported or has no `register(app)`."""


def command_entry_points() -> list[EntryPoint]:
    """The registered command modules, in name order (the order of `ketenbus --help`)."""
    return sorted(entry_points(group=COMMAND_GROUP), key=lambda ep: ep.name)


def register_all(target: typer.Typer) -> None:
    """Add every registered package's commands to `target`."""
    found = command_entry_points()
    if not found:
        raise CommandModuleBroken(
            f"no commands registered in {COMMAND_GROUP!r}:"
            " is ketenbus installed (pip install -e .)?"
        )
    for ep in found:
        try:
            register = ep.load()
        except Exception as exc:  # any import failure: say which module, then stop
            raise CommandModuleBroken(
                f"command module {ep.value!r} ({ep.name}) failed to import: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not callable(register):
            raise CommandModuleBroken(f"{ep.value!r} is not a callable register(app)")
        register(target)


def main() -> None:
    # structlog's default writes to stdout, which would corrupt `--json` output
    from ketenbus.logging import configure_logging
    from ketenbus.settings import get_settings

    configure_logging(get_settings().log_level)
    try:
        register_all(app)
    except CommandModuleBroken as exc:
        typer.echo(f"ketenbus: {exc}", err=True)
        raise SystemExit(70) from None  # EX_SOFTWARE: the installation is broken
    try:
        app()
    except KetenbusError as exc:  # the CLI's boundary: a refusal or failure said plainly
        typer.echo(f"ketenbus: {exc}", err=True)
        raise SystemExit(1) from None
