"""`ketenbus up | down | status`: the local stack (broker, topics, every service) in the
background, pid and log files under `KETENBUS_HOME/run`.

Exit 0 done / everything up, 1 a service failed to start, 3 `status` found an installed
service down.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ketenbus.errors import KetenbusError
from ketenbus.settings import get_settings

EXIT_FAILED = 1
EXIT_DOWN = 3


def up(
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="correlator workers to run [settings.correlator_workers, default 1]",
        ),
    ] = None,
) -> None:
    """Start the broker if needed, apply topics.yaml, then start every service.

    Correlator worker n (1..N) gets its own data directory (<home>/correlator/worker-<n>)
    and web port (correlator_port + n - 1); workers beyond N that still run are stopped.
    """
    from devtools.embedded_kafka import LocalBroker, broker_answers
    from devtools.supervisor import ServiceStartFailed, Supervisor, correlator_services
    from ketenbus.security.acls import apply_topics_and_acls
    from ketenbus.security.client import properties_path
    from ketenbus.security.issue import issue_credentials
    from ketenbus.topics.admin import load_topics, make_admin

    settings = get_settings()
    if workers is not None:
        settings = settings.model_copy(update={"correlator_workers": workers})
    try:
        if not broker_answers(settings.bootstrap_servers):
            LocalBroker.from_settings(settings, progress=typer.echo).start()
        # every service runs as its own principal: it needs the ACLs of topics.yaml, and
        # credentials (an adapter added after the broker was formatted gets them now)
        apply_topics_and_acls(make_admin(settings=settings), load_topics(settings.topics_file))
        supervisor = Supervisor(settings)
        for spec in supervisor.services:
            if spec.principal and not properties_path(settings, spec.principal).is_file():
                typer.echo(f"{spec.name}: issued {issue_credentials(spec.principal)}")
    except KetenbusError as exc:
        typer.echo(f"ketenbus up: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    wanted = {spec.name for spec in correlator_services(settings)}
    for spec in supervisor.services:
        if spec.module == "correlator" and spec.name not in wanted and supervisor.stop(spec):
            typer.echo(f"{spec.name}: stopped (beyond --workers {settings.correlator_workers})")
    failed = False
    for spec in supervisor.services:
        if spec.module == "correlator" and spec.name not in wanted:
            continue
        if not spec.installed:
            typer.echo(f"{spec.name}: not installed, skipped")
            continue
        try:
            pid, started = supervisor.start(spec)
        except ServiceStartFailed as exc:
            typer.echo(f"{spec.name}: failed: {exc}", err=True)
            failed = True
            continue
        port = spec.port(settings)
        what = "started" if started else "already running"
        typer.echo(f"{spec.name}: {what} (pid {pid}, port {port}, log {supervisor.log_file(spec)})")
    if failed:
        raise typer.Exit(EXIT_FAILED)


def down() -> None:
    """Stop every service started by `ketenbus up` (the broker keeps running)."""
    from devtools.supervisor import Supervisor

    supervisor = Supervisor()
    for spec in reversed(supervisor.services):
        stopped = supervisor.stop(spec)
        if stopped:
            typer.echo(f"{spec.name}: stopped")
        elif spec.installed:
            typer.echo(f"{spec.name}: not running")


def status(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Each service: up/down, pid, port. Exits 3 when an installed service is down."""
    from devtools.supervisor import Supervisor

    states = Supervisor().status()
    if as_json:
        rows = [
            {
                "service": s.name,
                "state": s.state,
                "pid": s.pid,
                "port": s.port,
                "log": str(s.log_file),
            }
            for s in states
        ]
        typer.echo(json.dumps(rows, indent=2))
    else:
        width = max(12, *(len(s.name) for s in states))  # added adapters have long names
        typer.echo(f"{'service':<{width}} {'state':<14} {'pid':>7} {'port':>6}")
        for s in states:
            typer.echo(f"{s.name:<{width}} {s.state:<14} {s.pid or '-':>7} {s.port or '-':>6}")
    if any(s.installed and not s.running for s in states):
        raise typer.Exit(EXIT_DOWN)


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)
