"""The webhook bridge's exceptions, each named for what happened."""

from __future__ import annotations

from ketenbus.errors import KetenbusError


class WebhookError(KetenbusError):
    """Base of every error the webhook bridge raises on purpose."""


class SubscriptionsInvalid(WebhookError):
    """The subscriptions file is missing, unreadable or does not validate."""


class UnknownSubscription(WebhookError):
    """No subscription has the given id."""


class SecretMissing(WebhookError):
    """A subscription's signing secret is not available (e.g. its env var is unset)."""
