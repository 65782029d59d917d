"""`ketenbus topics ...`: apply, check and list topics.yaml; generate (and apply) its ACLs."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ketenbus.settings import get_settings
from ketenbus.topics.acl import apply_acls, generate_acls
from ketenbus.topics.admin import apply_topics, check_topics, make_admin
from ketenbus.topics.spec import TopicsError, TopicsFile, load_topics

topics_app = typer.Typer(help="Topics and ACLs generated from topics.yaml.", no_args_is_help=True)

FileOption = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="topics file (default: KETENBUS_TOPICS_FILE)"),
]
BootstrapOption = Annotated[
    str | None,
    typer.Option("--bootstrap-servers", "-b", help="default: KETENBUS_BOOTSTRAP_SERVERS"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]

F = TypeVar("F", bound=Callable[..., Any])


def _reports_errors(command: F) -> F:
    """Turn a TopicsError into `error: ...` on stderr and exit status 2 (the service boundary)."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except TopicsError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc

    return wrapper  # type: ignore[return-value]


def _load(path: Path | None) -> TopicsFile:
    settings = get_settings()
    return load_topics(path or settings.topics_file, schemas_dir=settings.schemas_dir)


@topics_app.command("apply")
@_reports_errors
def apply_command(
    file: FileOption = None,
    bootstrap_servers: BootstrapOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show, change nothing")] = False,
) -> None:
    """Create missing topics, raise partition counts, set configs (idempotent)."""
    spec = _load(file)
    report, drifts = apply_topics(make_admin(bootstrap_servers), spec, dry_run=dry_run)
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if dry_run:
        for drift in drifts:
            typer.echo(f"would fix: {drift.describe()}" if drift.fixable else drift.describe())
    for name in report.created:
        typer.echo(f"created {name}")
    for line in report.partitions_raised:
        typer.echo(f"partitions raised: {line}")
    for line in report.configs_changed:
        typer.echo(f"configs changed: {line}")
    for error in report.errors:
        typer.echo(f"error: {error}", err=True)
    if not report.changed and not report.errors and not (dry_run and drifts):
        typer.echo("topics up to date: no changes")
    if not report.ok:
        raise typer.Exit(1)


@topics_app.command("check")
@_reports_errors
def check_command(
    file: FileOption = None, bootstrap_servers: BootstrapOption = None, as_json: JsonOption = False
) -> None:
    """Print the drift between the file and the cluster; exit 1 if there is any."""
    drifts, warning = check_topics(make_admin(bootstrap_servers), _load(file))
    if warning:
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        payload = [
            {
                "topic": d.topic,
                "kind": d.kind,
                "config": d.config,
                "expected": d.expected,
                "actual": d.actual,
                "fixable": d.fixable,
            }
            for d in drifts
        ]
        typer.echo(json.dumps(payload, indent=2))
    else:
        for drift in drifts:
            typer.echo(drift.describe())
        typer.echo(f"{len(drifts)} difference(s)" if drifts else "no drift")
    if drifts:
        raise typer.Exit(1)


@topics_app.command("list")
@_reports_errors
def list_command(file: FileOption = None, as_json: JsonOption = False) -> None:
    """The concrete topics the file declares (patterns expanded for listed municipalities)."""
    topics = _load(file).concrete_topics()
    if as_json:
        payload = [
            {
                "name": t.name,
                "partitions": t.partitions,
                "replication_factor": t.replication_factor,
                "configs": t.kafka_configs(),
                "schemas": t.entry.schemas,
                "producers": t.entry.producers,
                "consumers": t.entry.consumers,
            }
            for t in topics
        ]
        typer.echo(json.dumps(payload, indent=2))
        return
    for t in topics:
        typer.echo(f"{t.name}\tpartitions={t.partitions}\trf={t.replication_factor}")


@topics_app.command("acls")
@_reports_errors
def acls_command(
    file: FileOption = None,
    municipality: Annotated[
        list[str] | None,
        typer.Option("--municipality", "-m", help="also for this CBS code (repeatable)"),
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="create them on the cluster (needs an authorizer)")
    ] = False,
    bootstrap_servers: BootstrapOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the ACLs generated from producers/consumers; --apply creates them."""
    acls = generate_acls(_load(file), municipality or ())
    if as_json:
        typer.echo(json.dumps([a.as_dict() for a in acls], indent=2))
    else:
        for acl in acls:
            typer.echo(acl.describe())
    if apply:
        count = apply_acls(make_admin(bootstrap_servers), acls)
        typer.echo(f"applied {count} ACLs", err=True)


@topics_app.command("render")
@_reports_errors
def render_command(
    file: FileOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of stdout")
    ] = None,
    cluster: Annotated[
        str, typer.Option(help="the Strimzi Kafka cluster (strimzi.io/cluster label)")
    ] = "ketenbus",
) -> None:
    """Strimzi resources from topics.yaml: a KafkaTopic per topic, a KafkaUser per
    principal with exactly the ACLs `topics acls` generates (multi-document YAML)."""
    import yaml

    from ketenbus.topics.render import render_strimzi

    resources = render_strimzi(_load(file), cluster)
    header = (
        "# Generated by `ketenbus topics render` from topics.yaml: do not edit by hand.\n"
        f"# {sum(r['kind'] == 'KafkaTopic' for r in resources)} KafkaTopic,"
        f" {sum(r['kind'] == 'KafkaUser' for r in resources)} KafkaUser resources.\n"
    )
    text = header + yaml.safe_dump_all(resources, sort_keys=False, explicit_start=True)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        typer.echo(f"wrote {len(resources)} resources to {output}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(topics_app, name="topics")
