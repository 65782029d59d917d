"""`ketenbus subscribe`: follow an agency's notifications.

subscribe exits 0 when stopped (Ctrl-C, --max, --idle-exit), 2 on a usage error, 3 when
the agency's notification topic does not exist yet, 4 when the broker refuses this
principal the topic or the consumer group (ACLs: docs/security.md).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ketenbus.agencies import InvalidAgency, validate_agency

if TYPE_CHECKING:
    from operations.follow import StartAt

EXIT_USAGE = 2
EXIT_NO_TOPIC = 3
EXIT_REFUSED = 4


def _parse_moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _line(note: dict[str, Any], partition: int, offset: int) -> str:
    violations = ",".join(note["violations"]) or "-"
    changes = " ".join(note["changes"][:4]) + (" ..." if len(note["changes"]) > 4 else "")
    return (
        f"{note['issued_at']}  {note['case_id']}  {note['status']}  {violations}"
        f"  [{changes}]  p{partition}@{offset}"
    )


def _start(
    group: str | None, from_beginning: bool, offset: int | None, since: str | None
) -> StartAt:
    """Where to start from the options (at most one); a usage error exits 2."""
    from operations.follow import StartAt

    if sum(x for x in (from_beginning, offset is not None, since is not None)) > 1:
        typer.echo("give at most one of --from-beginning, --offset, --since", err=True)
        raise typer.Exit(EXIT_USAGE)
    if from_beginning:
        return StartAt("beginning")
    if offset is not None:
        return StartAt("offset", offset=offset)
    if since is not None:
        try:
            return StartAt("time", moment=_parse_moment(since))
        except ValueError:
            typer.echo(f"--since {since!r} is not an ISO 8601 time", err=True)
            raise typer.Exit(EXIT_USAGE) from None
    return StartAt("committed" if group else "end")


def subscribe(
    agency: Annotated[str, typer.Option(help="agency code, e.g. gemeente:0599, nla")],
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="start at the oldest retained notification")
    ] = False,
    offset: Annotated[
        int | None, typer.Option(help="start every partition at this offset (clamped)")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="start at the first notification at/after this ISO time")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object a line")] = False,
    group: Annotated[
        str | None,
        typer.Option(help="join this consumer group and commit (default: no group, no commits)"),
    ] = None,
    partition: Annotated[
        list[int] | None, typer.Option(help="only these partitions (repeatable)")
    ] = None,
    max_records: Annotated[
        int | None, typer.Option("--max", help="exit after this many notifications")
    ] = None,
    idle_exit: Annotated[
        float | None, typer.Option(help="exit after this many seconds without a notification")
    ] = None,
) -> None:
    """Follow an agency's notifications, decoded, from now (default) or a chosen start.

    Without --group nothing is committed and no consumer group is left behind; with
    --group a new group starts at the end unless a start option is given.
    """
    from ketenbus.settings import get_settings
    from operations.follow import NotAuthorised, NotificationTopicMissing, follow

    try:
        validate_agency(agency)
    except InvalidAgency as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_USAGE) from None
    start = _start(group, from_beginning, offset, since)
    followed = follow(
        agency,
        get_settings().bootstrap_servers,
        start,
        group=group,
        partitions=partition or None,
        max_records=max_records,
        idle_exit=idle_exit,
    )
    try:
        for item in followed:
            if item.notification is None:
                typer.echo(f"p{item.partition}@{item.offset}: undecodable: {item.error}", err=True)
            elif as_json:
                typer.echo(json.dumps(item.notification, ensure_ascii=False))
            else:
                typer.echo(_line(item.notification, item.partition, item.offset))
    except NotificationTopicMissing as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_NO_TOPIC) from None
    except NotAuthorised as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_REFUSED) from None
    except KeyboardInterrupt:
        pass  # Ctrl-C: the generator's cleanup closes the consumer
    finally:
        followed.close()


def register(app: typer.Typer) -> None:
    app.command("subscribe")(subscribe)
