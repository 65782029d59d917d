"""`ketenbus demo`: the whole backbone on the embedded broker, fed the Carnisse scenario."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ketenbus.settings import get_settings

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "carnisse.jsonl"
console = Console()


def _ketenbus(*args: str, env: dict[str, str] | None = None) -> int:
    return subprocess.run(
        [sys.executable, "-m", "ketenbus", *args], env=env, check=False
    ).returncode


def demo(
    scenario: Annotated[Path, typer.Option(help="intake records to replay")] = SCENARIO,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the correlator")] = 300,
) -> None:
    """Start everything on the embedded broker, replay the Carnisse scenario, show the cases."""
    from correlator.commands.cases import render_cases
    from correlator.projection import load_cases, load_notifications

    console.rule("1. the backbone: broker, topics, agency services, correlator")
    if _ketenbus("up") != 0:
        raise typer.Exit(1)
    console.rule(f"2. the agencies publish {scenario.name}")
    console.print(
        f"[dim]{sum(1 for _ in scenario.open())} intake records: complaints, inspections, "
        "sanctions, an admission revoked, case actions[/]"
    )
    if _ketenbus("publish", str(scenario)) != 0:
        raise typer.Exit(1)
    console.rule("3. waiting until the correlator has caught up")
    if _ketenbus("wait-idle", "--timeout", str(timeout)) != 0:
        raise typer.Exit(1)
    console.rule("4. the cases, why they are what they are, and their timelines")
    cases = load_cases()
    render_cases(cases, explain=True)
    console.rule("5. who was told what (each on its own topic)")
    table = Table()
    for column in ("agency", "notifications", "cases", "latest status per case"):
        table.add_column(column)
    agencies = sorted({agency for case in cases for agency in case["notified"]})
    for agency in agencies:
        notes = load_notifications(agency)
        latest = {n["case_id"]: n["status"] for n in notes}
        per_case = Counter(n["case_id"] for n in notes)
        table.add_row(
            agency,
            str(len(notes)),
            "\n".join(f"{case} ({count}x)" for case, count in sorted(per_case.items())),
            "\n".join(latest[case] for case in sorted(per_case)),
        )
    console.print(table)
    console.rule("look further")
    console.print(
        "  ketenbus cases --json                      every case, machine-readable\n"
        "  ketenbus cases --explain                   timelines and the rules behind each status\n"
        "  ketenbus notifications --agency nla        what one agency was told\n"
        "  ketenbus lag                               consumer lag per group and partition\n"
        "  ketenbus status                            the services; logs under "
        f"{get_settings().run_dir}\n"
        "  ketenbus down && ketenbus kafka down       stop everything"
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
