"""How a process finds the credentials of the principal it acts as (no I/O but reading
its properties file).

Order for the process's own principal (`KETENBUS_KAFKA_PRINCIPAL`): the SASL user and
password from settings, else `KETENBUS_KAFKA_PROPERTIES_FILE`, else
`<secrets dir>/<principal>.properties`. Another principal (tests, the operator acting for
a service) always comes from its properties file. The CA: `KETENBUS_KAFKA_SSL_CA_LOCATION`,
else the file's `ssl.ca.location`, else `<secrets dir>/ca.pem`.
"""

from __future__ import annotations

from pathlib import Path

from ketenbus.security.errors import CredentialsMissing
from ketenbus.security.names import check_name
from ketenbus.security.properties import ClientCredentials, credentials_from, read_properties
from ketenbus.settings import Settings


def properties_path(settings: Settings, principal: str) -> Path:
    """Where the client config of `principal` lives."""
    return settings.secrets_dir / f"{check_name(principal)}.properties"


def ca_path(settings: Settings) -> Path:
    return settings.kafka_ssl_ca_location or settings.secrets_dir / "ca.pem"


def credentials_for(settings: Settings, principal: str | None = None) -> ClientCredentials:
    """The SASL credentials of `principal` (None: this process's own)."""
    own = principal is None or principal == settings.kafka_principal
    name = settings.kafka_principal if principal is None else principal
    if own and settings.kafka_sasl_username and settings.kafka_sasl_password is not None:
        return ClientCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password.get_secret_value(),
            ca_location=ca_path(settings),
            mechanism=settings.kafka_sasl_mechanism,
        )
    path = (
        settings.kafka_properties_file
        if own and settings.kafka_properties_file
        else properties_path(settings, name)
    )
    try:
        values = read_properties(path)
    except CredentialsMissing:
        raise CredentialsMissing(
            f"no credentials for principal {name!r}: {path} does not exist; run"
            f" `ketenbus kafka up` (dev broker) or `ketenbus credentials issue {name}`"
        ) from None
    credentials = credentials_from(values, str(path), ca_path(settings))
    if settings.kafka_ssl_ca_location is not None:
        credentials = ClientCredentials(
            credentials.username,
            credentials.password,
            settings.kafka_ssl_ca_location,
            credentials.mechanism,
        )
    return credentials


def security_config(settings: Settings, principal: str | None = None) -> dict[str, str]:
    """The librdkafka security settings of `principal` (empty for PLAINTEXT)."""
    if settings.kafka_security_protocol == "PLAINTEXT":
        return {"security.protocol": "PLAINTEXT"}
    return credentials_for(settings, principal).librdkafka()
