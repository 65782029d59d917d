"""`ketenbus rebuild`: reset the correlator and rebuild every case by replaying the source
topics (docs/correlation.md, rules 8 and 9: replay gives the same cases as live operation).

Rules: docs/correlation.md#rule-8, docs/correlation.md#rule-9.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
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
    via_worker: Annotated[
        bool,
        typer.Option(
            "--via-worker",
            help="replay through a correlator worker (every intermediate case change;"
            " slow) instead of the offline fold",
        ),
    ] = False,
    timeout: Annotated[float, typer.Option(help="seconds to wait for a --via-worker replay")] = 600,
) -> None:
    """Reset the correlator's state and rebuild every case by replaying the source topics.

    By default the replay runs offline: it reads every source topic, folds the events
    into each case's final state and writes what a worker would have left behind (its
    tables, the clocks, each case's final state on cases.events, the groups' offsets);
    --via-worker replays through a worker instead. Notifications are not sent again
    unless --notifications is given (agencies already have them). docs/correlation.md#rebuild
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
    if via_worker:
        events, elapsed = _via_worker(settings, notifications, timeout)
        how = "worker start -> idle"
    else:
        events, elapsed = _offline(settings, notifications)
        how = "offline: read -> fold -> write -> offsets committed"
    typer.echo(
        f"replayed {events} source events in {elapsed:.1f} s"
        f" = {events / elapsed if elapsed else 0:,.0f} events/s ({how})"
    )
    typer.echo(f"rebuilt {len(load_cases())} cases")
    for spec in stopped:
        supervisor.start(spec)
        typer.echo(f"{spec.name}: started again")


def _offline(settings: Settings, notifications: bool) -> tuple[int, float]:
    """The offline replay (correlator.offline): source events read, seconds."""
    from confluent_kafka import KafkaException

    from correlator.offline import replay_offline
    from correlator.rebuild import RebuildFailed

    try:
        figures = replay_offline(settings, notifications=notifications, progress=typer.echo)
    except (RebuildFailed, KafkaException) as exc:
        typer.echo(f"ketenbus rebuild: {exc} (run it again: it starts with the reset)", err=True)
        raise typer.Exit(1) from None
    return figures.events, figures.seconds


def _via_worker(settings: Settings, notifications: bool, timeout: float) -> tuple[int, float]:
    """The replay through a correlator worker: source events, seconds to idle."""
    from correlator.rebuild import source_events

    events = source_events(settings)
    started = time.perf_counter()
    if _replay(settings, notifications, timeout) != 0:
        typer.echo("ketenbus rebuild: the replay did not finish in time", err=True)
        raise typer.Exit(1)
    return events, time.perf_counter() - started


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
