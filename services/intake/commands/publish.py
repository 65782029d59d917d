"""`ketenbus publish FILE...`: intake records through the agency service owning each.

Exit 0 all published, 1 something was rejected (or a file unreadable, or the broker did
not acknowledge), 2 usage error (missing file, unknown file type).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka import KafkaException

from ketenbus.errors import KetenbusError
from ketenbus.settings import get_settings

EXIT_REJECTED = 1
EXIT_USAGE = 2


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
    from intake.errors import UnreadableFile
    from intake.files import reader_for
    from intake.publisher import BULK_LINGER_MS, Outcome
    from intake.runtime import build_publisher, tune_gc
    from ketenbus.logging import configure_logging

    settings = get_settings()
    configure_logging("INFO" if verbose else "ERROR")
    missing = [f for f in files if not f.is_file()]
    if missing:
        for path in missing:
            typer.echo(f"ketenbus publish: no such file: {path}", err=True)
        raise typer.Exit(EXIT_USAGE)
    try:
        publisher = build_publisher(
            settings=settings, per_agency_principals=True, linger_ms=BULK_LINGER_MS
        )
        readers = [(path, reader_for(path, publisher.intake.registry.adapters)) for path in files]
        tune_gc()
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


def register(app: typer.Typer) -> None:
    app.command("publish")(publish)
