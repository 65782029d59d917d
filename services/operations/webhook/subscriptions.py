"""The subscriptions file (`settings.webhook_subscriptions_file`): who gets what, where, how.

Each subscription names an agency (whose notification topic it follows), a callback URL,
a signing secret (literal, or the name of an environment variable), a body format
(`cloudevents` or `zgw`) and optional filters on the kenmerken (see `operations.webhook.core`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from ketenbus.agencies import InvalidAgency, validate_agency
from ketenbus.settings import get_settings
from operations.webhook.core import FILTER_KEYS
from operations.webhook.errors import SecretMissing, SubscriptionsInvalid, UnknownSubscription

BodyFormat = Literal["cloudevents", "zgw"]
GROUP_PREFIX = "ketenbus-webhook-"


#: Environments where a plain-http callback (a local test receiver) is allowed.
PLAIN_HTTP_ENVIRONMENTS = frozenset({"dev", "test"})


def check_callback_url(url: str, environment: str) -> str:
    """The callback URL if allowed: https, or http in dev/test only (notifications carry
    enforcement data; outside dev they travel encrypted)."""
    if url.startswith("https://"):
        return url
    if url.startswith("http://"):
        if environment in PLAIN_HTTP_ENVIRONMENTS:
            return url
        raise ValueError(f"callback_url must be https:// outside dev/test ({environment})")
    raise ValueError("callback_url must be an https:// URL (http:// in dev/test only)")


class Subscription(BaseModel):
    """One agency endpoint and what it receives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="stable, names the group")
    agency: str = Field(description="agency code whose notifications are delivered")
    callback_url: str = Field(description="http(s) URL the notifications are POSTed to")
    secret: SecretStr | None = Field(None, description="HMAC-SHA256 signing secret")
    secret_env: str | None = Field(None, description="environment variable holding the secret")
    format: BodyFormat = Field("cloudevents", description="cloudevents | zgw")
    kanaal: str = Field("ketenbus-zaken", description="ZGW `kanaal` (format zgw)")
    auth: SecretStr | None = Field(
        None, description="sent verbatim as the Authorization header (ZGW abonnement `auth`)"
    )
    filters: dict[str, list[str]] = Field(
        default_factory=dict, description="kenmerk -> accepted values; all kenmerken must match"
    )
    retry_budget_seconds: float | None = Field(
        None, gt=0, description="overrides settings.webhook_retry_budget_seconds"
    )
    enabled: bool = True

    @field_validator("agency")
    @classmethod
    def _check_agency(cls, value: str) -> str:
        try:
            return validate_agency(value)
        except InvalidAgency as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("callback_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_callback_url(value, get_settings().environment)

    @field_validator("filters")
    @classmethod
    def _check_filters(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(value) - set(FILTER_KEYS))
        if unknown:
            raise ValueError(f"unknown filter kenmerk(en) {unknown}; known: {list(FILTER_KEYS)}")
        return value

    @model_validator(mode="after")
    def _one_secret(self) -> Subscription:
        if (self.secret is None) == (self.secret_env is None):
            raise ValueError("give exactly one of secret, secret_env")
        return self

    @property
    def group_id(self) -> str:
        """The consumer group whose committed offsets are this subscription's progress."""
        return GROUP_PREFIX + self.id

    def signing_secret(self, environ: Mapping[str, str] = os.environ) -> bytes:
        if self.secret is not None:
            return self.secret.get_secret_value().encode()
        value = environ.get(self.secret_env or "")
        if not value:
            raise SecretMissing(
                f"subscription {self.id}: environment variable {self.secret_env} is unset"
            )
        return value.encode()


class SubscriptionsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    subscriptions: list[Subscription] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> SubscriptionsFile:
        ids = [s.id for s in self.subscriptions]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate subscription ids {duplicates}")
        return self


def parse_subscriptions(raw: object, *, source: str = "subscriptions") -> list[Subscription]:
    try:
        return SubscriptionsFile.model_validate(raw or {}).subscriptions
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise SubscriptionsInvalid(f"{source}: {problems}") from None


def load_subscriptions(path: Path) -> list[Subscription]:
    """Every subscription of the file (enabled or not)."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SubscriptionsInvalid(f"{path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SubscriptionsInvalid(f"{path}: not YAML: {exc}") from None
    return parse_subscriptions(raw, source=str(path))


def find_subscription(subscriptions: list[Subscription], subscription_id: str) -> Subscription:
    for subscription in subscriptions:
        if subscription.id == subscription_id:
            return subscription
    known = ", ".join(s.id for s in subscriptions) or "none"
    raise UnknownSubscription(f"no subscription {subscription_id!r} (known: {known})")
