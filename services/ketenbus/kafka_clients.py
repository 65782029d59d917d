"""The one place a Kafka client's connection settings are made.

Every producer, consumer and admin client in ketenbus (and in the tests) takes its
librdkafka configuration from `client_config`, and the faust app its broker URLs and
credentials from `faust_broker`, so how the backbone connects (addresses, and the
security protocol and credentials of a principal) is decided here once. See
ketenbus.security.client for where a principal's credentials come from.
"""

from __future__ import annotations

import ssl
from typing import Any

from ketenbus.security.client import credentials_for, security_config
from ketenbus.settings import Settings, get_settings


def client_config(
    settings: Settings | None = None, *, principal: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """librdkafka settings to reach the backbone's brokers as `principal`, plus `overrides`.

    `principal` names the Kafka principal the client acts as (`ketenbus-correlator`, `nla`,
    `gemeente-0599`, ...; see `ketenbus.agencies.principal_of`); None: the process's own
    (`KETENBUS_KAFKA_PRINCIPAL`). With SASL_SSL (the default) its SCRAM credentials and
    the CA come from its properties file (or the settings); a missing file raises
    `ketenbus.security.CredentialsMissing`, naming the file, never a secret.

    Keys in `overrides` use librdkafka's dotted names, written with underscores
    (`group_id="x"`, `bootstrap_servers="h:p"`), or are passed as a mapping via `extra`.
    """
    settings = settings or get_settings()
    config: dict[str, Any] = {"bootstrap.servers": settings.bootstrap_servers}
    config.update(security_config(settings, principal))
    extra = overrides.pop("extra", None) or {}
    config.update({key.replace("_", "."): value for key, value in overrides.items()})
    config.update(extra)
    return config


def faust_broker(
    settings: Settings | None = None, *, principal: str | None = None
) -> tuple[list[str], Any]:
    """(broker URLs, `broker_credentials`) for a faust App acting as `principal`.

    aiokafka speaks SASL_SSL when the credentials carry an ssl context; None for PLAINTEXT.
    """
    import faust  # the correlator's dependency: imported only by who builds a faust app

    settings = settings or get_settings()
    urls = [f"kafka://{server.strip()}" for server in settings.bootstrap_servers.split(",")]
    if settings.kafka_security_protocol == "PLAINTEXT":
        return urls, None
    credentials = credentials_for(settings, principal)
    context = ssl.create_default_context(cafile=str(credentials.ca_location))
    return urls, faust.SASLCredentials(
        username=credentials.username,
        password=credentials.password,
        mechanism=credentials.mechanism,
        ssl_context=context,
    )
