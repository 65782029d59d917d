"""`ketenbus cases`: what the correlator decided, for people (tables) and scripts (`--json`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def cases(
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON array, one object per case")
    ] = False,
    explain: Annotated[bool, typer.Option("--explain", help="timelines and why")] = False,
    status: Annotated[str | None, typer.Option(help="only cases with this status")] = None,
) -> None:
    """Every case: dwelling and organisation cases, their status, codes and parties."""
    from correlator.projection import load_cases

    found = load_cases()
    if status:
        found = [case for case in found if case["status"] == status]
    if as_json:
        _print_json(found)
        return
    render_cases(found, explain=explain)


def render_cases(found: list[dict[str, Any]], *, explain: bool = False) -> None:
    table = Table(title=f"{len(found)} cases", show_lines=True)
    for column in ("case", "status", "violations", "agencies", "notified", "recidive"):
        table.add_column(column)
    colours = {"open": "bold red", "stalled": "bold yellow", "closed": "green", "signal": "dim"}
    for case in found:
        table.add_row(
            case["case_id"],
            f"[{colours.get(case['status'], '')}]{case['status']}[/]",
            "\n".join(case["violations"]),
            "\n".join(case["agencies"]),
            "\n".join(case["notified"]) or "-",
            "yes" if case["recidive"] else "",
        )
    console.print(table)
    if not explain:
        console.print(
            "[dim]--explain: timelines and the rules behind each status; --json for scripts[/]"
        )
        return
    for case in found:
        why = case["explanation"]
        console.rule(f"{case['case_id']}  [{case['status']}]")
        console.print(f"  why: {why.get('status_rule', '?')}")
        for link in why.get("links", []):
            console.print(
                f"  {link['occurred_at']}  {link['event']:<28} {link['type']:<12} via {link['via']}"
            )
        for item in why.get("violations", []):
            mark = "established" if item["established"] else "alleged"
            sources = ", ".join(item.get("sources", []))
            console.print(f"  {item['code']:<28} {item['legal_basis']:<32} {mark} {sources}")
        for step in case.get("timeline", []):
            console.print(
                f"  [dim]{step['at']} -> {step['status']}: {', '.join(step['changes'])}[/]"
            )


def register(app: typer.Typer) -> None:
    app.command("cases")(cases)
