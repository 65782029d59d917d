"""`ketenbus lag` and `ketenbus wait-idle`: consumer lag for people and for scripts.

`ketenbus lag` never claims what it cannot know. One-shot, it prints the running lag
monitor's evaluated status (its `/status`, judged over the monitor's whole window); when
no monitor answers, it samples the cluster itself, and a lagging partition that too few
samples cannot judge is UNKNOWN, never OK. It exits with the worst status: 0 OK,
1 WARNING, 2 REWIND/STALLED/STOPPED, 3 when the cluster could not be sampled, 4 UNKNOWN.
`ketenbus wait-idle` exits 0 once every counted group has had zero lag over consecutive
polls, 1 on timeout (remaining lag on stderr).
"""

import json
import sys
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ketenbus.settings import get_settings

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from ketenbus.settings import Settings
    from operations.lagmonitor.collector import LagCollector
    from operations.lagmonitor.model import LagReport
    from operations.lagmonitor.status import LagTracker

#: `ketenbus lag` exit status when the cluster did not answer.
EXIT_UNREACHABLE = 3

_STATUS_STYLE = {
    "UNKNOWN": "cyan",
    "OK": "green",
    "WARNING": "yellow",
    "REWIND": "magenta",
    "STALLED": "red",
    "STOPPED": "bold red",
}


def register(app: typer.Typer) -> None:
    app.command("lag")(lag)
    app.command("wait-idle")(wait_idle)


def lag(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="live view, until Ctrl-C")] = False,
    interval: Annotated[float, typer.Option(help="seconds between samples")] = 2.0,
    samples: Annotated[
        int, typer.Option(help="samples to take (interval apart) before reporting once")
    ] = 1,
    window: Annotated[
        int | None, typer.Option(help="samples per status window [settings.lagmonitor_window]")
    ] = None,
    group: Annotated[
        list[str] | None, typer.Option("--group", "-g", help="only this group (repeatable)")
    ] = None,
    local: Annotated[
        bool,
        typer.Option("--local", help="sample the cluster here instead of asking the lag monitor"),
    ] = False,
) -> None:
    """Consumer lag per group and partition: offsets, seconds, Burrow-style status.

    One-shot (the default) it shows the running lag monitor's evaluated status
    (KETENBUS_LAGMONITOR_URL, default the local one); without one it samples the cluster
    --samples times itself: a lagging partition that the samples cannot judge yet is
    UNKNOWN. Exit status: 0 OK, 1 WARNING, 2 REWIND/STALLED/STOPPED, 3 cluster
    unreachable, 4 UNKNOWN.
    """
    from operations.lagmonitor.collector import LagCollector
    from operations.lagmonitor.errors import LagMonitorError
    from operations.lagmonitor.model import Status
    from operations.lagmonitor.status import LagTracker

    settings = get_settings()
    window_size = window or settings.lagmonitor_window
    if not (watch or local or samples > 1 or window):
        monitored = _from_monitor(_monitor_url(settings), group)
        if monitored is not None:
            evaluated, monitor_window = monitored
            _print_report(evaluated, as_json, monitor_window, source="lagmonitor")
            raise typer.Exit(evaluated.status.exit_code)
    tracker = LagTracker(window_size=window_size)
    report: LagReport | None = None
    try:
        with LagCollector(settings.bootstrap_servers) as collector:
            if watch:
                report = _watch(collector, tracker, interval, group, as_json)
            else:
                for i in range(max(1, samples)):
                    if i:
                        time.sleep(interval)
                    report = tracker.observe(collector.sample(group))
                _print_report(report, as_json, tracker.window_size, source="sampled")
                if report is not None and report.status is Status.UNKNOWN:
                    typer.echo(
                        f"ketenbus lag: no lag monitor answered and {report.samples} sample(s)"
                        " cannot tell a lagging consumer that catches up from one that is"
                        f" stuck: UNKNOWN. Use --samples {tracker.window_size} (--interval"
                        " apart) or start the lag monitor (`ketenbus up`).",
                        err=True,
                    )
    except LagMonitorError as exc:
        typer.echo(f"ketenbus lag: {exc}", err=True)
        raise typer.Exit(EXIT_UNREACHABLE) from exc
    raise typer.Exit(report.status.exit_code if report is not None else 0)


def _monitor_url(settings: "Settings") -> str:
    base = settings.lagmonitor_url or f"http://127.0.0.1:{settings.lagmonitor_port}"
    return base.rstrip("/") + "/status"


def _from_monitor(url: str, groups: list[str] | None) -> "tuple[LagReport, int] | None":
    """The lag monitor's latest evaluated report (and its window size), if one answers with
    a fresh one (taken within three of its intervals)."""
    from operations.lagmonitor.model import LagReport

    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            document: dict[str, Any] = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    try:
        report = LagReport.from_dict(document)
        interval = float(document["interval_seconds"])
        window_size = int(document["window_size"])
    except (KeyError, TypeError, ValueError):
        return None
    if time.time() - report.taken_at > 3 * max(interval, 1.0):
        return None  # the monitor runs but does not sample: its status is stale
    if groups:
        wanted = set(groups)
        report = LagReport(
            taken_at=report.taken_at,
            samples=report.samples,
            groups=tuple(g for g in report.groups if g.group in wanted),
        )
    return report, window_size


def wait_idle(
    timeout: Annotated[float, typer.Option(help="give up after this many seconds")] = 120.0,
    group: Annotated[
        list[str] | None,
        typer.Option("--group", "-g", help="wait for this group only (repeatable)"),
    ] = None,
    include_empty: Annotated[
        bool, typer.Option(help="also wait for groups without members (their lag cannot shrink)")
    ] = False,
    poll_interval: Annotated[float, typer.Option(help="seconds between polls")] = 0.5,
    confirmations: Annotated[int, typer.Option(help="consecutive idle polls required")] = 3,
) -> None:
    """Block until every consumer group has zero lag; exit 0 when idle, 1 on timeout.

    Counted: every group with members, and the correlator group always (every partition
    of its required topics, committed or not). Progress goes to stderr.
    """
    from operations.lagmonitor.collector import LagCollector
    from operations.lagmonitor.idle import wait_until_idle

    settings = get_settings()
    with LagCollector(settings.bootstrap_servers, read_head_timestamps=False) as collector:
        outcome = wait_until_idle(
            collector,
            correlator_group=settings.correlator_group,
            timeout=timeout,
            groups=group or None,
            include_empty=include_empty,
            poll_interval=poll_interval,
            confirmations=confirmations,
            progress=lambda line: typer.echo(f"wait-idle: {line}", err=True),
        )
    if outcome.idle:
        typer.echo(f"wait-idle: idle after {outcome.waited:.1f}s", err=True)
        raise typer.Exit(0)
    remaining = outcome.last.describe() if outcome.last is not None else "cluster not answering"
    typer.echo(f"wait-idle: timed out after {timeout:g}s; still lagging: {remaining}", err=True)
    raise typer.Exit(1)


def _watch(
    collector: "LagCollector",
    tracker: "LagTracker",
    interval: float,
    group: list[str] | None,
    as_json: bool,
) -> "LagReport | None":
    from rich.live import Live

    report = None
    try:
        if as_json:  # one JSON object per line and sample, for piping
            while True:
                report = tracker.observe(collector.sample(group))
                print(json.dumps(report.to_dict()), flush=True)
                time.sleep(interval)
        with Live(console=_console(), auto_refresh=False) as live:
            while True:
                report = tracker.observe(collector.sample(group))
                live.update(_table(report, tracker.window_size), refresh=True)
                time.sleep(interval)
    except KeyboardInterrupt:
        return report


def _print_report(
    report: "LagReport | None", as_json: bool, window_size: int, *, source: str
) -> None:
    if report is None:
        return
    if as_json:
        document = {"source": source, "window_size": window_size, **report.to_dict()}
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    _console().print(_table(report, window_size, source))


def _console() -> "Console":
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # piped into a file or a CI log: do not squeeze to 80
        console = Console(width=160)
    return console


def _table(report: "LagReport", window_size: int, source: str = "sampled") -> "Table":
    from rich.table import Table

    table = Table(
        title=f"consumer lag - {time.strftime('%H:%M:%S', time.localtime(report.taken_at))}"
        f" - {source}, window {report.samples}/{window_size} - worst {report.status.name}",
        title_justify="left",
    )
    for name in ("group", "state", "members", "topic", "part", "committed", "end", "lag"):
        left = name in ("group", "state", "topic")
        table.add_column(name, justify="left" if left else "right", no_wrap=left)
    table.add_column("lag s", justify="right")
    table.add_column("status")
    table.add_column("drain", justify="right")
    for g in report.groups:
        style = _STATUS_STYLE[g.status.name]
        table.add_row(
            f"[bold]{g.group}[/]",
            g.state.lower(),
            str(g.members),
            "",
            "",
            "",
            "",
            f"[bold]{g.lag}[/]",
            _duration(g.lag_seconds),
            f"[{style}]{g.status.name}[/]",
            _duration(g.time_to_drain),
        )
        for p in g.partitions:
            table.add_row(
                "",
                "",
                "",
                p.topic,
                str(p.partition),
                "-" if p.committed is None else str(p.committed),
                str(p.end),
                str(p.lag),
                _duration(p.lag_seconds),
                f"[{_STATUS_STYLE[p.status.name]}]{p.status.name}[/]",
                _duration(p.time_to_drain),
            )
    if not report.groups:
        table.add_row("(no consumer groups)", *[""] * 10)
    return table


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
