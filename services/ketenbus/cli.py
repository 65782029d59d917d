"""The `ketenbus` command line: one entry point, a subcommand per capability.

Subcommand groups live in their own modules and are imported lazily by `main`, so
`ketenbus kafka status` does not pay for importing faust.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    help="ketenbus: the event-sourced coordination backbone between Dutch agencies.",
    no_args_is_help=True,
    add_completion=False,
)

# module -> attribute: each module exposes `register(app)` adding its commands.
_COMMAND_MODULES = (
    "ketenbus.cli_kafka",
    "ketenbus.cli_topics",
    "ketenbus.cli_services",
    "ketenbus.cli_cases",
    "ketenbus.cli_demo",
    "ketenbus.cli_lag",
    "ketenbus.cli_schemas",
    "ketenbus.cli_integration",
    "ketenbus.cli_scaffold",
    "ketenbus.cli_bench",
)


def _register_all() -> None:
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that capability has not landed yet
                continue
            raise
        module.register(app)


def main() -> None:
    # structlog's default writes to stdout, which would corrupt `--json` output
    from ketenbus.logging import configure_logging
    from ketenbus.settings import get_settings

    configure_logging(get_settings().log_level)
    _register_all()
    app()
