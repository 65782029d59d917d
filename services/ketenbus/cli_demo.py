"""`ketenbus demo`: the whole backbone on the embedded broker, fed the Carnisse scenario.

`ketenbus rebuild`: reset the correlator and replay the source topics (rules 8 and 9).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ketenbus.settings import get_settings

SCENARIO = Path(__file__).resolve().parents[1] / "correlator" / "scenarios" / "carnisse.jsonl"
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
    from correlator.projection import load_cases, load_notifications
    from ketenbus.cli_cases import render_cases

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


def rebuild(
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    notifications: Annotated[
        bool, typer.Option("--notifications", help="also truncate and re-send all notifications")
    ] = False,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the replay")] = 600,
) -> None:
    """Reset the correlator's state and rebuild every case by replaying the source topics.

    Notifications are not sent again unless --notifications is given (agencies already
    have them); cases.events is rebuilt in full.
    """
    from correlator.projection import load_cases
    from correlator.rebuild import RebuildFailed, reset
    from ketenbus.supervisor import SERVICES, Supervisor
    from ketenbus.topics_admin import make_admin

    settings = get_settings()
    if not yes:
        if not sys.stdin.isatty():
            typer.echo(
                "ketenbus rebuild: pass --yes to reset the correlator non-interactively", err=True
            )
            raise typer.Exit(2)
        typer.confirm("Reset the correlator's state and cases.events, and replay?", abort=True)
    supervisor = Supervisor(settings)
    spec = next(s for s in SERVICES if s.name == "correlator")
    was_running = supervisor.stop(spec)
    if was_running:
        typer.echo("correlator: stopped")
    try:
        reset(
            make_admin(settings.bootstrap_servers),
            settings,
            notifications=notifications,
            progress=typer.echo,
        )
    except RebuildFailed as exc:
        typer.echo(f"ketenbus rebuild: {exc}", err=True)
        raise typer.Exit(1) from None
    env = {**os.environ, "KETENBUS_CORRELATOR_NOTIFY": "true" if notifications else "false"}
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.run_dir / "correlator-rebuild.log"
    typer.echo(f"replaying the source topics (log: {log_path})")
    with log_path.open("ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "correlator", "worker", "-l", "warn"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        idle = _ketenbus("wait-idle", "--timeout", str(timeout))
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
    if idle != 0:
        typer.echo("ketenbus rebuild: the replay did not finish in time", err=True)
        raise typer.Exit(1)
    typer.echo(f"rebuilt {len(load_cases())} cases")
    if was_running:
        supervisor.start(spec)
        typer.echo("correlator: started again")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("rebuild")(rebuild)
