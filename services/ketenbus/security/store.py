"""The principals' client configs in the secrets dir: read, created once, replaced on rotation."""

from __future__ import annotations

from pathlib import Path

from ketenbus.security.client import ca_path, properties_path
from ketenbus.security.errors import SecurityError
from ketenbus.security.names import check_name
from ketenbus.security.properties import (
    ClientCredentials,
    credentials_from,
    read_properties,
    render_properties,
    write_private,
)
from ketenbus.security.scram import new_password
from ketenbus.settings import Settings


def stored(settings: Settings, name: str) -> ClientCredentials | None:
    """The credentials in `<secrets dir>/<name>.properties`, None if there is no such file."""
    path = properties_path(settings, name)
    if not path.is_file():
        return None
    return credentials_from(read_properties(path), str(path), ca_path(settings))


def fresh(settings: Settings, name: str) -> ClientCredentials:
    """New credentials for `name` (not yet stored nor known to any broker)."""
    return ClientCredentials(check_name(name), new_password(), ca_path(settings))


def store(settings: Settings, credentials: ClientCredentials, bootstrap_servers: str) -> Path:
    """Write the principal's client config (0600); returns its path."""
    path = properties_path(settings, credentials.username)
    write_private(path, render_properties(bootstrap_servers, credentials))
    return path


def ensure(settings: Settings, name: str, bootstrap_servers: str) -> ClientCredentials:
    """The stored credentials of `name`, created (and stored) when there are none."""
    existing = stored(settings, name)
    if existing is not None:
        return existing
    credentials = fresh(settings, name)
    store(settings, credentials, bootstrap_servers)
    return credentials


def all_stored(settings: Settings) -> list[ClientCredentials]:
    """Every principal's stored credentials (files that do not parse are skipped)."""
    found: list[ClientCredentials] = []
    directory: Path = settings.secrets_dir
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.properties")):
        try:
            credentials = stored(settings, path.stem)
        except (SecurityError, OSError):  # a stray file must not stop the broker
            continue
        if credentials is not None and credentials.username == path.stem:
            found.append(credentials)
    return found
