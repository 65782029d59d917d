"""`ketenbus topics ...`: apply, check and list topics.yaml; generate (and apply) its ACLs."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ketenbus.security.acls import AclDrift, acl_drift, sync_acls
from ketenbus.security.errors import SecurityError
from ketenbus.settings import get_settings
from ketenbus.topics.acl import AclsNotSupported, generate_acls
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
AclsOption = Annotated[
    bool,
    typer.Option("--acls/--no-acls", help="also make/compare the ACLs of the file (default: yes)"),
]

F = TypeVar("F", bound=Callable[..., Any])


def _reports_errors(command: F) -> F:
    """Turn a TopicsError into `error: ...` on stderr and exit status 2 (the service boundary)."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (TopicsError, SecurityError) as exc:
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
    acls_too: AclsOption = True,
) -> None:
    """Create missing topics, raise partition counts, set configs, and make the cluster's
    ACLs exactly those topics.yaml generates (idempotent)."""
    spec = _load(file)
    admin = make_admin(bootstrap_servers)
    report, drifts = apply_topics(admin, spec, dry_run=dry_run)
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
    acls = _acl_step(lambda: sync_acls(admin, spec, dry_run=dry_run)) if acls_too else None
    if acls is not None:
        verb = "would " if dry_run else ""
        for acl in acls.missing:
            typer.echo(f"{verb}create acl: {acl.describe()}")
        for acl in acls.unexpected:
            typer.echo(f"{verb}delete acl: {acl.describe()}")
        if acls.clean:
            typer.echo("acls up to date: no changes")
    if not report.ok:
        raise typer.Exit(1)


def _acl_step(step: Callable[[], AclDrift]) -> AclDrift | None:
    """Run an ACL step; a cluster without an authorizer gets a warning, not a failure."""
    try:
        return step()
    except AclsNotSupported as exc:
        typer.echo(f"warning: acls skipped: {exc}", err=True)
        return None


@topics_app.command("check")
@_reports_errors
def check_command(
    file: FileOption = None,
    bootstrap_servers: BootstrapOption = None,
    as_json: JsonOption = False,
    acls_too: AclsOption = True,
) -> None:
    """Print the drift (topics and ACLs) between the file and the cluster; exit 1 if any."""
    spec = _load(file)
    admin = make_admin(bootstrap_servers)
    drifts, warning = check_topics(admin, spec)
    if warning:
        typer.echo(f"warning: {warning}", err=True)
    acls = (_acl_step(lambda: acl_drift(admin, spec)) if acls_too else None) or AclDrift()
    if as_json:
        payload: list[dict[str, Any]] = [
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
        payload += [
            {"acl": acl.as_dict(), "kind": kind, "fixable": True}
            for kind, listed in (("acl_missing", acls.missing), ("acl_unexpected", acls.unexpected))
            for acl in listed
        ]
        typer.echo(json.dumps(payload, indent=2))
    else:
        for drift in drifts:
            typer.echo(drift.describe())
        for line in acls.lines():
            typer.echo(line)
        count = len(drifts) + len(acls.missing) + len(acls.unexpected)
        typer.echo(f"{count} difference(s)" if count else "no drift")
    if drifts or not acls.clean:
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
    """Print the ACLs generated from producers/consumers; --apply makes the cluster's ACLs
    exactly those (as `topics apply` does)."""
    spec = _load(file)
    acls = generate_acls(spec, municipality or ())
    if as_json:
        typer.echo(json.dumps([a.as_dict() for a in acls], indent=2))
    else:
        for acl in acls:
            typer.echo(acl.describe())
    if apply:
        admin = make_admin(bootstrap_servers)
        drift = sync_acls(admin, spec)
        typer.echo(f"acls: {len(drift.missing)} created, {len(drift.unexpected)} deleted", err=True)


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
