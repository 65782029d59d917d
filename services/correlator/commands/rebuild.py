"""`ketenbus rebuild`: reset the correlator and rebuild every case by replaying the source
topics (docs/correlation.md, rules 8 and 9: replay gives the same cases as live operation).

Rules: docs/correlation.md#rule-8, docs/correlation.md#rule-9.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Annotated

import typer

from ketenbus.settings import Settings, get_settings


def _ketenbus(*args: str) -> int:
    return subprocess.run([sys.executable, "-m", "ketenbus", *args], check=False).returncode


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
    from devtools.supervisor import Supervisor

    settings = get_settings()
    if not yes:
        _confirm()
    supervisor = Supervisor(settings)
    # every correlator worker (`ketenbus up --workers N`) stops; the same ones start again
    stopped = [s for s in supervisor.services if s.module == "correlator" and supervisor.stop(s)]
    for spec in stopped:
        typer.echo(f"{spec.name}: stopped")
    _reset(settings, notifications)
    if _replay(settings, notifications, timeout) != 0:
        typer.echo("ketenbus rebuild: the replay did not finish in time", err=True)
        raise typer.Exit(1)
    typer.echo(f"rebuilt {len(load_cases())} cases")
    for spec in stopped:
        supervisor.start(spec)
        typer.echo(f"{spec.name}: started again")


def _confirm() -> None:
    if not sys.stdin.isatty():
        typer.echo(
            "ketenbus rebuild: pass --yes to reset the correlator non-interactively", err=True
        )
        raise typer.Exit(2)
    typer.confirm("Reset the correlator's state and cases.events, and replay?", abort=True)


def _reset(settings: Settings, notifications: bool) -> None:
    """Delete the correlator's groups, internal topics, store and case log (docs above)."""
    from correlator.rebuild import RebuildFailed, reset
    from ketenbus.topics.admin import make_admin

    try:
        reset(
            make_admin(settings=settings),
            settings,
            notifications=notifications,
            progress=typer.echo,
        )
    except RebuildFailed as exc:
        typer.echo(f"ketenbus rebuild: {exc}", err=True)
        raise typer.Exit(1) from None


def _replay(settings: Settings, notifications: bool, timeout: float) -> int:
    """Run a correlator worker until every consumer group is idle; wait-idle's exit code."""
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
        return _ketenbus("wait-idle", "--timeout", str(timeout))
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()


def register(app: typer.Typer) -> None:
    app.command("rebuild")(rebuild)
