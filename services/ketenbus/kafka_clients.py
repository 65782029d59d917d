"""The one place a Kafka client's connection settings are made.

Every producer, consumer and admin client in ketenbus (and in the tests) takes its
librdkafka configuration from `client_config`, so how the backbone connects (addresses,
and the security protocol and credentials of its principal) is decided here once.
"""

from __future__ import annotations

from typing import Any

from ketenbus.settings import Settings, get_settings


def client_config(
    settings: Settings | None = None, *, principal: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """librdkafka settings to reach the backbone's brokers as `principal`, plus `overrides`.

    `principal` names the Kafka principal the client acts as (`correlator`, `nla`,
    `gemeente-0599`, ...; see `ketenbus.agencies.principal_of`); None: the process's own
    (settings). The security issue fills in how a principal's credentials are found.

    Keys in `overrides` use librdkafka's dotted names, written with underscores
    (`group_id="x"` -> `group.id`), or are passed as a mapping via `extra`.
    """
    settings = settings or get_settings()
    config: dict[str, Any] = {"bootstrap.servers": settings.bootstrap_servers}
    extra = overrides.pop("extra", None) or {}
    config.update({key.replace("_", "."): value for key, value in overrides.items()})
    config.update(extra)
    return config
