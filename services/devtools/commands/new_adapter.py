"""`ketenbus new-adapter NAME`: scaffold a new agency service (docs/adding-an-agency.md).

Exit 0 created, 1 refused (the agency or a file exists already: nothing is overwritten),
2 usage error (invalid name or option). Nothing is written unless everything can be.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from devtools.scaffold.generate import AdapterPlan

EXIT_EXISTS = 1
EXIT_USAGE = 2


def new_adapter(
    name: Annotated[str, typer.Argument(help="agency code = package name, e.g. belastingdienst")],
    kind: Annotated[
        str, typer.Option(help="agency kind (topics.yaml), e.g. tax_authority")
    ] = "other",
    oin: Annotated[
        str | None, typer.Option(help="the agency's 20-digit OIN (default: a placeholder)")
    ] = None,
    types: Annotated[
        str,
        typer.Option(help="event types it may publish, comma-separated (case_action: always)"),
    ] = "complaint,inspection",
    title: Annotated[
        str | None, typer.Option(help="the agency's name, e.g. Belastingdienst")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="HTTP port of its intake API (default: next free)")
    ] = None,
    root: Annotated[
        Path | None, typer.Option(help="repository root to scaffold into (default: this one)")
    ] = None,
) -> None:
    """Scaffold a new agency adapter: service package, topics.yaml entries, sample, tests."""
    from devtools.scaffold import (
        AdapterExists,
        ScaffoldError,
        plan_adapter,
        render,
        write_scaffold,
    )
    from ketenbus.settings import PROJECT_ROOT, get_settings

    base = (root or PROJECT_ROOT).resolve()
    try:
        plan = plan_adapter(
            name,
            root=base,
            settings=get_settings(),
            kind=kind,
            oin=oin,
            types=tuple(t.strip() for t in types.split(",") if t.strip()),
            title=title,
            port=port,
        )
        written = write_scaffold(render(plan))
    except AdapterExists as exc:
        typer.echo(f"ketenbus new-adapter: {exc}; nothing was changed", err=True)
        raise typer.Exit(EXIT_EXISTS) from None
    except ScaffoldError as exc:
        typer.echo(f"ketenbus new-adapter: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    _report(plan, written, base)


def _report(plan: AdapterPlan, written: list[Path], base: Path) -> None:
    """What was written, and the steps that are left to a person."""
    typer.echo(f"created agency {plan.name} ({plan.kind}) in {base}:")
    for path in written:
        verb = "updated" if path.name == "topics.yaml" else "created"
        typer.echo(f"  {verb} {path.relative_to(base)}")
    placeholder = " (a PLACEHOLDER: set the real one)" if plan.oin_placeholder else ""
    typer.echo(
        f"""
next steps (docs/adding-an-agency.md):
  1. map the agency's native records in services/agencies/{plan.name}/adapter.py
     (map_native, KINDS, FIELDS) and replace {plan.sample} with a real, anonymised export
  2. check its topics.yaml entry: OIN {plan.oin}{placeholder}, types {", ".join(plan.allowed_types)}
  3. ketenbus topics apply          # creates events.{plan.name}, notifications.{plan.name}
  4. pytest tests/unit/test_{plan.name}_adapter.py \\
            tests/integration/test_{plan.name}_adapter_kafka.py
  5. ketenbus publish {plan.sample}
  6. ketenbus up                    # runs `python -m agencies.{plan.name}` on port {plan.port}
  7. ketenbus topics acls           # the ACLs of its principal User:{plan.name}"""
    )


def register(app: typer.Typer) -> None:
    app.command("new-adapter")(new_adapter)
