"""`ketenbus kafka …`: the embedded broker and the local 3-node quorum.

Exit codes: 0 done / running, 1 the broker failed, 2 a tool to install is missing,
3 `status` found it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from devtools.embedded_kafka import (
    KafkaLocalError,
    LocalBroker,
    LocalCluster,
    NodeStatus,
    ToolMissing,
)
from ketenbus.settings import get_settings

EXIT_FAILED = 1
EXIT_TOOL_MISSING = 2
EXIT_STOPPED = 3

kafka_app = typer.Typer(help="The embedded Apache Kafka broker (KRaft) on 127.0.0.1.")
cluster_app = typer.Typer(help="A local 3-node KRaft quorum for fault tests.")
kafka_app.add_typer(cluster_app, name="cluster")

Purge = Annotated[bool, typer.Option("--purge", help="also delete the data and logs")]


def _progress(message: str) -> None:
    typer.echo(message)


@contextmanager
def _reported() -> Iterator[None]:
    """Turn the package's typed errors into one message and an exit code."""
    try:
        yield
    except ToolMissing as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_TOOL_MISSING) from None
    except KafkaLocalError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None


def _broker() -> LocalBroker:
    return LocalBroker.from_settings(get_settings(), progress=_progress)


def _cluster() -> LocalCluster:
    return LocalCluster.from_settings(get_settings(), progress=_progress)


def _status_line(status: NodeStatus) -> str:
    if not status.running:
        return f"{status.name}: stopped  port {status.port}  home {status.home}"
    return (
        f"{status.name}: running  pid {status.pid}  port {status.port}"
        f" (controller {status.controller_port})  version {status.version}"
        f"  log {status.log_file}"
    )


@kafka_app.command("up")
def up() -> None:
    """Start the embedded broker (fetching Kafka once) and wait until it answers."""
    with _reported():
        _broker().start()


@kafka_app.command("down")
def down(purge: Purge = False) -> None:
    """Stop the embedded broker (and the services `ketenbus up` runs on it); --purge
    deletes its data."""
    from devtools.supervisor import Supervisor

    # The services hold state built from this broker's topics (the correlator's tables):
    # left running over a purged broker they would carry it into the next one.
    supervisor = Supervisor()
    for spec in reversed(supervisor.services):
        if supervisor.stop(spec):
            typer.echo(f"{spec.name}: stopped")
    with _reported():
        _broker().stop(purge=purge)


@kafka_app.command("status")
def status() -> None:
    """Print whether the embedded broker runs (exit 0) or not (exit 3)."""
    with _reported():
        node = _broker().status()
    typer.echo(_status_line(node))
    if not node.running:
        raise typer.Exit(EXIT_STOPPED)


@cluster_app.command("up")
def cluster_up() -> None:
    """Start the 3-node quorum and wait until every node sees all three brokers."""
    with _reported():
        _cluster().start()


@cluster_app.command("down")
def cluster_down(purge: Purge = False) -> None:
    """Stop every node of the quorum; --purge deletes its data."""
    with _reported():
        _cluster().stop(purge=purge)


@cluster_app.command("status")
def cluster_status() -> None:
    """Print each node's state; exit 0 when all run, 3 otherwise."""
    with _reported():
        nodes = _cluster().status()
    for node in nodes:
        typer.echo(_status_line(node))
    if not all(node.running for node in nodes):
        raise typer.Exit(EXIT_STOPPED)


def _node_command(action: Callable[[LocalCluster, int], object]) -> Callable[[int], None]:
    def command(node: Annotated[int, typer.Argument(help="node number, 1..3")]) -> None:
        with _reported():
            action(_cluster(), node)

    return command


cluster_app.command("stop-node", help="Stop one node (SIGTERM) to test faults.")(
    _node_command(lambda cluster, n: cluster.stop_node(n))
)
cluster_app.command("kill-node", help="Kill one node (SIGKILL): a crash, not a shutdown.")(
    _node_command(lambda cluster, n: cluster.stop_node(n, kill=True))
)
cluster_app.command("start-node", help="Start one stopped node again.")(
    _node_command(lambda cluster, n: cluster.start_node(n))
)


def register(app: typer.Typer) -> None:
    """Add `ketenbus kafka …` to the command line."""
    app.add_typer(kafka_app, name="kafka")
