"""`ketenbus publish FILE...`, `ketenbus up | down | status`.

publish: exit 0 all published, 1 something was rejected (or a file unreadable, or the
broker did not acknowledge), 2 usage error (missing file, unknown file type).
up/down/status: exit 0 done / everything up, 1 a service failed to start, 3 `status`
found an installed service down.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka import KafkaException

from ketenbus.errors import KetenbusError
from ketenbus.settings import get_settings

EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_DOWN = 3


def publish(
    files: Annotated[
        list[Path], typer.Argument(help=".jsonl intake records, or .csv desk exports")
    ],
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="log every record (JSON)")
    ] = False,
) -> None:
    """Publish intake records through the agency service that owns each record's agency.

    Rejected lines are printed to stderr with their line number and reason and kept on
    the dead-letter topic; the rest are published. Exits 1 when anything was rejected.
    """
    from ketenbus.adapter.errors import UnreadableFile
    from ketenbus.adapter.files import reader_for
    from ketenbus.adapter.publisher import Outcome
    from ketenbus.adapter.runtime import build_publisher
    from ketenbus.logging import configure_logging

    settings = get_settings()
    configure_logging("INFO" if verbose else "ERROR")
    missing = [f for f in files if not f.is_file()]
    if missing:
        for path in missing:
            typer.echo(f"ketenbus publish: no such file: {path}", err=True)
        raise typer.Exit(EXIT_USAGE)
    try:
        publisher = build_publisher(settings=settings)
        readers = [(path, reader_for(path, publisher.intake.registry.adapters)) for path in files]
    except KetenbusError as exc:  # unknown file type, no pseudonym key outside dev, ...
        typer.echo(f"ketenbus publish: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    total = Outcome()
    unreadable = 0
    for path, reader in readers:
        try:
            outcome = publisher.submit_many(reader(path), source=f"file:{path.name}")
        except UnreadableFile as exc:
            typer.echo(str(exc), err=True)
            unreadable += 1
            continue
        except (KetenbusError, KafkaException) as exc:
            typer.echo(f"ketenbus publish: {path}: broker did not acknowledge: {exc}", err=True)
            typer.echo(f"published {len(total.accepted)}, rejected {len(total.rejected)}")
            raise typer.Exit(EXIT_REJECTED) from None
        for rejected in outcome.rejected:
            typer.echo(f"{path}: {rejected.describe()}", err=True)
        total.extend(outcome)
    publisher.producer.flush()
    summary = f"published {len(total.accepted)}, rejected {len(total.rejected)}"
    if unreadable:
        summary += f", unreadable files {unreadable}"
    typer.echo(summary)
    if total.rejected or unreadable:
        raise typer.Exit(EXIT_REJECTED)


def up() -> None:
    """Start the broker if needed, apply topics.yaml, then start every service."""
    from ketenbus.kafka_local import LocalBroker, broker_answers
    from ketenbus.supervisor import ServiceStartFailed, Supervisor
    from ketenbus.topics_admin import apply_topics, load_topics, make_admin

    settings = get_settings()
    try:
        if not broker_answers(settings.bootstrap_servers):
            LocalBroker.from_settings(settings, progress=typer.echo).start()
        report, _ = apply_topics(
            make_admin(settings.bootstrap_servers), load_topics(settings.topics_file)
        )
        if report.errors:
            raise KetenbusError("topics apply: " + "; ".join(report.errors))
    except KetenbusError as exc:
        typer.echo(f"ketenbus up: {exc}", err=True)
        raise typer.Exit(EXIT_REJECTED) from None
    supervisor = Supervisor(settings)
    failed = False
    for spec in supervisor.services:
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
        raise typer.Exit(EXIT_REJECTED)


def down() -> None:
    """Stop every service started by `ketenbus up` (the broker keeps running)."""
    from ketenbus.supervisor import Supervisor

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
    from ketenbus.supervisor import Supervisor

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
    app.command("publish")(publish)
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)
