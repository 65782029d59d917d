"""Wiring: settings -> registry, pseudonym key, producers, topic provisioning, ref
fingerprints -> publisher.

The pseudonym key is read here, at start-up, so a service outside dev/test without
KETENBUS_PSEUDONYM_KEY refuses to start instead of failing on its first inspection.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable

from intake.core import Intake, IntakeBounds
from intake.fingerprints import FingerprintStore
from intake.publisher import IntakePublisher, ProducerPool
from intake.registry import AdapterRegistry
from intake.topics import TopicEnsurer
from ketenbus.pseudonyms import Pseudonymiser, pseudonym_key
from ketenbus.settings import Settings, get_settings

#: (gen0, gen1, gen2) collection thresholds of an intake process. Each record allocates
#: a few hundred objects, nearly all freed by reference counting; with the default
#: (700, 10, 10) the collector ran every few records and rescanned the accepted records
#: kept for the answer: a sixth of a file import's CPU (measured: 0.22 -> 0.17 ms/record).
GC_THRESHOLDS = (10_000, 50, 100)


def tune_gc() -> None:
    """For a process that lives to take records (an agency service, `ketenbus publish`):
    what start-up built (modules, schemas, models) is frozen out of every collection, and
    the collector runs less often (`GC_THRESHOLDS`); cyclic garbage is still collected."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def build_publisher(
    services: Iterable[str] | None = None,
    *,
    settings: Settings | None = None,
    follow_fingerprints: bool = False,
    per_agency_principals: bool = False,
    linger_ms: float | None = None,
) -> IntakePublisher:
    """A publisher for the named adapter services (default: every adapter).

    `follow_fingerprints`: keep reading other processes' ref fingerprints (a long-running
    service); a one-shot import reads them once. `per_agency_principals`: produce each
    record as its agency's principal (`ketenbus publish`, run by an agency with its own
    credentials); an agency service produces as its own principal (`ketenbus-intake-*`),
    which the ACLs let write its agencies' topics. `linger_ms`: the producers' linger
    (default KETENBUS_INTAKE_LINGER_MS; a file import passes `BULK_LINGER_MS`).
    """
    settings = settings or get_settings()
    pseudonymiser = Pseudonymiser(pseudonym_key(settings))
    registry = AdapterRegistry.load(services, settings)
    intake = Intake(registry, pseudonymiser, bounds=IntakeBounds.from_settings(settings))
    topics = TopicEnsurer(settings)
    fingerprints = FingerprintStore(
        intake.fingerprint_key,
        settings,
        before_load=topics.ensure_shared,
        follow=follow_fingerprints,
    )
    return IntakePublisher(
        intake,
        ProducerPool(settings, per_agency=per_agency_principals, linger_ms=linger_ms),
        topics,
        fingerprints,
    )
