"""`ketenbus webhook ...`: the webhook bridge's status and redelivery."""

from __future__ import annotations

import typer

from operations.webhook.cli import webhook_app


def register(app: typer.Typer) -> None:
    app.add_typer(webhook_app, name="webhook")
