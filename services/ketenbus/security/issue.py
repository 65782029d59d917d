"""Issuing and rotating a principal's credentials (what `ketenbus credentials issue` does).

Run by the operator (the platform admin: creating SCRAM credentials and ACLs needs ALTER on
the cluster). For a municipality it also creates its topics, so the file it gets works at
once. The new secret is written to the properties file only after the broker accepted it;
with `rotate` the broker replaces the old secret, which stops working at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException

from ketenbus.agencies import is_gemeente
from ketenbus.logging import get_logger
from ketenbus.security import scram, store
from ketenbus.security.client import properties_path
from ketenbus.security.errors import ScramUpdateFailed
from ketenbus.security.names import ADMIN, USER, name_of
from ketenbus.security.principals import resolve
from ketenbus.settings import Settings, get_settings
from ketenbus.topics.acl import apply_acls, generate_acls
from ketenbus.topics.admin import ensure_agency_topics, make_admin
from ketenbus.topics.spec import TopicsFile, cbs_of, load_topics

log = get_logger("security.issue")


def _municipality(spec: TopicsFile, name: str) -> str | None:
    """The agency code of a municipality principal (`gemeente-0344` -> `gemeente:0344`)."""
    code = name.replace("-", ":", 1)
    return code if is_gemeente(code) and spec.gemeente_pattern is not None else None


def issue_credentials(
    principal: str, rotate: bool = False, settings: Settings | None = None
) -> Path:
    """Create (or with `rotate` replace) the SCRAM credential and the ACLs of `principal`
    (an agency code, service name or principal name of topics.yaml) and write its client
    config; returns the path of `<secrets dir>/<principal>.properties`."""
    settings = settings or get_settings()
    spec = load_topics(settings.topics_file)
    name = resolve(spec, principal)
    existing = store.stored(settings, name)
    credentials = existing if existing is not None and not rotate else store.fresh(settings, name)
    admin = make_admin(settings=settings)
    scram.upsert(admin, [(name, credentials.password)])
    municipality = _municipality(spec, name)
    try:
        if municipality is not None:
            ensure_agency_topics(municipality, admin, spec=spec, settings=settings)
        codes = [cbs_of(municipality)] if municipality is not None else []
        own = [a for a in generate_acls(spec, codes) if a.principal == USER + name]
        apply_acls(admin, own)
    except KafkaException as exc:
        raise ScramUpdateFailed(f"ACLs of {name} refused: {exc.args[0].str()}") from exc
    path = store.store(settings, credentials, settings.bootstrap_servers)
    log.info(
        "credentials_issued",
        principal=name,
        rotated=rotate and existing is not None,
        acls=len(own),
        file=str(path),
    )
    return path


@dataclass(frozen=True)
class PrincipalRow:
    """One line of `ketenbus credentials list` (never a secret)."""

    principal: str
    kind: str
    file: Path | None
    on_cluster: bool | None


def list_principals(settings: Settings | None = None) -> list[PrincipalRow]:
    """Every principal of topics.yaml, every issued one, and whether the cluster knows it."""
    settings = settings or get_settings()
    spec = load_topics(settings.topics_file)
    kinds: dict[str, str] = {ADMIN: "admin (super user)"}
    kinds |= {name_of(a.principal): f"agency {a.code}" for a in spec.agencies if not a.is_pattern}
    kinds |= {name_of(s.principal): f"service {s.name}" for s in spec.services}
    for credentials in store.all_stored(settings):
        kinds.setdefault(credentials.username, "agency (on demand)")
    try:
        known: set[str] | None = set(scram.users(make_admin(settings=settings)))
    except (ScramUpdateFailed, KafkaException):
        known = None  # cluster unreachable: list the files only
    rows = []
    for name, kind in sorted(kinds.items()):
        path = properties_path(settings, name)
        rows.append(
            PrincipalRow(
                principal=name,
                kind=kind,
                file=path if path.is_file() else None,
                on_cluster=None if known is None else name in known,
            )
        )
    return rows
