"""Principal names (pure, no topics.yaml): `User:<name>`, the name safe as a file name."""

from __future__ import annotations

import re

from ketenbus.security.errors import UnknownPrincipal

#: the platform's own admin: the only super user (with the brokers' certificate principal)
ADMIN = "admin"
USER = "User:"
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


def name_of(principal: str) -> str:
    """`User:nla` -> `nla`."""
    return principal.removeprefix(USER)


def check_name(name: str) -> str:
    """A principal name is lower-case letters, digits and dashes: safe as a file name."""
    if not _NAME.match(name):
        raise UnknownPrincipal(
            "a principal name is 1-63 lower-case letters, digits or dashes, starting with a letter"
        )
    return name
