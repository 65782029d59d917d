"""Wiring: settings -> registry, pseudonym key, producer, topic provisioning -> publisher.

The pseudonym key is read here, at start-up, so a service outside dev/test without
KETENBUS_PSEUDONYM_KEY refuses to start instead of failing on its first inspection.
"""

from __future__ import annotations

from collections.abc import Iterable

from intake.core import Intake
from intake.publisher import IntakePublisher
from intake.registry import AdapterRegistry
from intake.topics import TopicEnsurer
from ketenbus.producer import ReliableProducer
from ketenbus.pseudonyms import Pseudonymiser, pseudonym_key
from ketenbus.settings import Settings, get_settings


def build_publisher(
    services: Iterable[str] | None = None, *, settings: Settings | None = None
) -> IntakePublisher:
    """A publisher for the named adapter services (default: every adapter)."""
    settings = settings or get_settings()
    pseudonymiser = Pseudonymiser(pseudonym_key(settings))
    registry = AdapterRegistry.load(services, settings)
    producer = ReliableProducer(settings=settings)
    return IntakePublisher(Intake(registry, pseudonymiser), producer, TopicEnsurer(settings))
