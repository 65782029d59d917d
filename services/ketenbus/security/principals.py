"""Principal names: from topics.yaml's agencies and services, plus the platform admin (pure).

A principal's *name* is what follows `User:` (`nla`, `gemeente-0599`,
`ketenbus-correlator`); it names the SCRAM user and the file
`<secrets dir>/<name>.properties`. `ketenbus credentials issue` accepts an agency code
(`gemeente:0599`), a service name (`correlator`) or a principal name.
"""

from __future__ import annotations

import re

from ketenbus.agencies import InvalidAgency, is_gemeente, validate_agency
from ketenbus.security.errors import UnknownPrincipal
from ketenbus.security.names import ADMIN, USER, check_name, name_of
from ketenbus.topics.spec import TopicsError, TopicsFile

__all__ = ["ADMIN", "check_name", "fixed_principals", "name_of", "resolve"]


def fixed_principals(spec: TopicsFile) -> list[str]:
    """The principals created when the broker is formatted: admin, every listed agency and
    every service (municipalities not listed get theirs on demand)."""
    names = {ADMIN}
    names |= {name_of(a.principal) for a in spec.agencies if not a.is_pattern}
    names |= {name_of(s.principal) for s in spec.services}
    return sorted(names)


def resolve(spec: TopicsFile, who: str) -> str:
    """The principal name of an agency code, a service name or a principal name."""
    if who in {ADMIN, USER + ADMIN}:
        return ADMIN
    if who in spec.service_names:
        return check_name(name_of(spec.service(who).principal))
    try:
        validate_agency(who)
        if spec.is_agency(who) or is_gemeente(who):
            return check_name(name_of(spec.agency(who).principal))
    except (InvalidAgency, TopicsError):
        pass
    name = name_of(who)
    known = {name_of(s.principal) for s in spec.services}
    known |= {name_of(a.principal) for a in spec.agencies if not a.is_pattern}
    if name in known:
        return name
    municipality = re.fullmatch(r"gemeente-(\d{4})", name)
    if municipality and spec.gemeente_pattern is not None:
        return resolve(spec, f"gemeente:{municipality.group(1)}")
    raise UnknownPrincipal(
        "not an agency code, service or principal of topics.yaml (see `ketenbus credentials list`)"
    )
