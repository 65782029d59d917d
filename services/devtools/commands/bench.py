"""`ketenbus bench …`: throughput benchmarks (not tests; figures go to the README).

The `bench` sub-app lives here; each benchmark adds one command (`intake` here, the
correlator's `correlate` later) whose implementation lives with its capability.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ketenbus.errors import KetenbusError

bench_app = typer.Typer(help="Throughput benchmarks against the configured broker.")


@bench_app.command("intake")
def intake(
    records: Annotated[int, typer.Option("--records", "-n", min=1, help="records per path")] = 5000,
    clients: Annotated[
        int, typer.Option("--clients", "-c", min=1, help="concurrent HTTP clients")
    ] = 4,
) -> None:
    """Records/s through the HTTP intake API and through file import (acks=all)."""
    from devtools.bench.intake import load_average, run_intake_bench
    from ketenbus.logging import configure_logging

    configure_logging("WARNING")
    typer.echo(f"load average {load_average()} (before)")
    try:
        figures = run_intake_bench(records, clients)
    except KetenbusError as exc:
        typer.echo(f"ketenbus bench intake: {exc}", err=True)
        raise typer.Exit(1) from None
    for figure in figures:
        typer.echo(str(figure))
    typer.echo(f"load average {load_average()} (after)")


@bench_app.command("correlate")
def correlate(
    events: Annotated[int, typer.Option("--events", "-n", min=10, help="synthetic events")] = 5000,
    rate: Annotated[float, typer.Option(help="offered events/s for the latency run")] = 50.0,
    seconds: Annotated[float, typer.Option(help="length of the latency run")] = 20.0,
    dwellings: Annotated[
        int | None, typer.Option(help="addresses the events spread over (default events/4)")
    ] = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="also time `ketenbus rebuild` of all events")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="one JSON object of every figure")
    ] = False,
    workers: Annotated[
        int, typer.Option(min=1, help="correlator worker processes (one consumer group)")
    ] = 1,
    history: Annotated[
        int,
        typer.Option(
            min=0,
            help="first rebuild this many synthetic events offline and let the worker"
            " recover them (its RSS then is reported); the runs follow on top",
        ),
    ] = 0,
    live_aggregates: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="the workers' KETENBUS_CORRELATOR_LIVE_AGGREGATES (default: the setting)",
        ),
    ] = None,
) -> None:
    """Correlator events/s until idle, end-to-end latency p50/p99, and the raw ceiling.

    Runs on a throwaway broker and correlator of its own (a few hundred MB, stopped after).
    """
    import json

    from devtools.bench.correlate import run_correlate_bench
    from ketenbus.logging import configure_logging

    configure_logging("WARNING")
    figures = run_correlate_bench(
        events,
        rate,
        seconds,
        progress=lambda m: typer.echo(m, err=True),
        rebuild=rebuild,
        dwellings=dwellings,
        workers=workers,
        history=history,
        live_aggregates=live_aggregates,
    )
    if as_json:
        typer.echo(json.dumps(figures.as_json()))
        return
    for line in figures.lines():
        typer.echo(line)


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
