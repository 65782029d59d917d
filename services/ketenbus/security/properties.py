"""librdkafka client configs as Java properties files: rendered, parsed and written 0600.

An agency's integration team gets exactly one such file per principal
(`<secrets dir>/<principal>.properties`). Pure except `write_private` / `read_properties`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ketenbus.secretfiles import write_secret
from ketenbus.security.errors import CredentialsInvalid, CredentialsMissing

MECHANISM = "SCRAM-SHA-512"
#: the keys of a client properties file, in the order they are written
KEYS = (
    "bootstrap.servers",
    "security.protocol",
    "sasl.mechanism",
    "sasl.username",
    "sasl.password",
    "ssl.ca.location",
)


@dataclass(frozen=True)
class ClientCredentials:
    """What a SASL_SSL client needs besides the broker address."""

    username: str
    password: str
    ca_location: Path
    mechanism: str = MECHANISM

    def __repr__(self) -> str:  # never print the secret by accident
        return (
            f"ClientCredentials(username={self.username!r}, password='***',"
            f" ca_location={str(self.ca_location)!r}, mechanism={self.mechanism!r})"
        )

    def librdkafka(self) -> dict[str, str]:
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": self.mechanism,
            "sasl.username": self.username,
            "sasl.password": self.password,
            "ssl.ca.location": str(self.ca_location),
        }


def render_properties(bootstrap_servers: str, credentials: ClientCredentials) -> str:
    """The text of a principal's client properties file (librdkafka / Java client keys)."""
    values = {"bootstrap.servers": bootstrap_servers, **credentials.librdkafka()}
    lines = [
        f"# ketenbus client config of principal {credentials.username}: keep it secret.",
        "# Rotate with `ketenbus credentials issue <principal> --rotate`.",
        *(f"{key}={_escape(values[key])}" for key in KEYS),
    ]
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\")


def parse_properties(text: str) -> dict[str, str]:
    """`key=value` (or `key: value`) lines; `#`/`!` comments and blank lines skipped."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        separators = [i for i in (line.find("="), line.find(":")) if i > 0]
        if not separators:
            continue
        at = min(separators)
        values[line[:at].strip()] = line[at + 1 :].strip().replace("\\\\", "\\")
    return values


def credentials_from(values: Mapping[str, str], source: str, default_ca: Path) -> ClientCredentials:
    """The SASL credentials of parsed properties; `source` names the file in errors."""
    missing = [key for key in ("sasl.username", "sasl.password") if not values.get(key)]
    if missing:
        raise CredentialsInvalid(f"{source} lacks {', '.join(missing)}")
    ca = values.get("ssl.ca.location")
    return ClientCredentials(
        username=values["sasl.username"],
        password=values["sasl.password"],
        ca_location=Path(ca) if ca else default_ca,
        mechanism=values.get("sasl.mechanism") or MECHANISM,
    )


def read_properties(path: Path) -> dict[str, str]:
    try:
        return parse_properties(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CredentialsMissing(f"no client config at {path}") from None


def write_private(path: Path, text: str | bytes) -> None:
    """Write a file only its owner can read (0600), in a directory only it can enter."""
    write_secret(path, text.encode() if isinstance(text, str) else text)
