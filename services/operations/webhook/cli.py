"""`ketenbus webhook status | redeliver`: what each subscription delivered, and sending its
dead letters again. Registered by `operations.commands.subscribe`.

Exit status: 0 done; 1 a redelivery failed (the notification stays dead); 2 usage error
(unknown subscription, nothing chosen, invalid subscriptions file).
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import typer

from ketenbus.agencies import notification_topic
from ketenbus.offsets import GroupOffsets
from ketenbus.settings import Settings, get_settings
from operations.webhook.errors import WebhookError
from operations.webhook.subscriptions import Subscription, find_subscription, load_subscriptions

EXIT_FAILED = 1
EXIT_USAGE = 2

webhook_app = typer.Typer(help="The webhook bridge: subscriptions, delivery state, redelivery.")


def pending(settings: Settings, subscription: Subscription) -> int | None:
    """Notifications on the topic not committed by the subscription's group (incl. the one
    being retried); None when the topic does not exist."""
    # the group's id, never joined: reading does not disturb a running bridge
    with GroupOffsets(
        settings,
        subscription.group_id,
        client_id=f"ketenbus-webhook-status-{uuid.uuid4().hex[:8]}",
    ) as reader:
        partitions = reader.partitions(notification_topic(subscription.agency))
        if partitions is None:
            return None
        offsets = reader.read(partitions).values()
    # end - committed as is (a committed offset below the low watermark counts in full)
    return sum(o.end - (o.committed if o.committed is not None else o.low) for o in offsets)


def _load(settings: Settings) -> list[Subscription]:
    try:
        return load_subscriptions(settings.webhook_subscriptions_file)
    except WebhookError as exc:
        typer.echo(f"ketenbus webhook: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None


@webhook_app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="JSON array, one object each")] = False,
) -> None:
    """Per subscription: delivered, filtered out, pending, retrying, dead."""
    from operations.webhook.bridge import journal_for

    settings = get_settings()
    rows: list[dict[str, Any]] = []
    for sub in _load(settings):
        journal = journal_for(settings, sub)
        summary = journal.summary()
        rows.append(
            {
                "subscription": sub.id,
                "agency": sub.agency,
                "format": sub.format,
                "enabled": sub.enabled,
                "delivered": summary.delivered,
                "filtered": summary.filtered,
                "pending": pending(settings, sub),
                "retrying": summary.retrying,
                "dead": len(journal.dead_letters()),
                "log": str(journal.log_path),
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(
        f"{'subscription':<28} {'agency':<15} {'format':<11} "
        f"{'delivered':>9} {'filtered':>8} {'pending':>7} {'retrying':>8} {'dead':>5}"
    )
    for row in rows:
        name = row["subscription"] + ("" if row["enabled"] else " (off)")
        typer.echo(
            f"{name:<28} {row['agency']:<15} {row['format']:<11} {row['delivered']:>9}"
            f" {row['filtered']:>8} {row['pending'] if row['pending'] is not None else '-':>7}"
            f" {row['retrying']:>8} {row['dead']:>5}"
        )


@webhook_app.command("redeliver")
def redeliver_command(
    subscription: Annotated[str, typer.Option(help="subscription id")],
    notification: Annotated[
        list[str] | None, typer.Option(help="a dead notification id (repeatable)")
    ] = None,
    redeliver_all: Annotated[bool, typer.Option("--all", help="every dead notification")] = False,
) -> None:
    """Send dead-lettered notifications again (one attempt each); a 2xx settles them."""
    from operations.webhook.bridge import Sender, journal_for, redeliver

    settings = get_settings()
    if bool(notification) == redeliver_all:
        typer.echo("give --notification ID (repeatable) or --all", err=True)
        raise typer.Exit(EXIT_USAGE)
    try:
        sub = find_subscription(_load(settings), subscription)
        sender = Sender(sub, settings)
    except WebhookError as exc:
        typer.echo(f"ketenbus webhook redeliver: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    journal = journal_for(settings, sub)
    wanted = None if redeliver_all else set(notification or [])
    try:
        results = redeliver(sender, journal, wanted)
    finally:
        sender.close()
    for missing in sorted((wanted or set()) - set(results)):
        typer.echo(f"{missing}: not in the dead-letter list of {sub.id}", err=True)
    failed = 0
    for nid, result in results.items():
        if result.ok:
            typer.echo(f"{nid}: delivered ({result.describe()})")
        else:
            failed += 1
            typer.echo(f"{nid}: failed ({result.describe()}), still dead", err=True)
    typer.echo(f"redelivered {len(results) - failed}, failed {failed}")
    if failed or (wanted and wanted - set(results)):
        raise typer.Exit(EXIT_FAILED)
