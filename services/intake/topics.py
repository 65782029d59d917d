"""Topics exist before the first record goes out: a municipality's topics are created from
topics.yaml's pattern entry on its first record (broker auto-creation is off)."""

from __future__ import annotations

import threading

from intake.fingerprints import FINGERPRINT_TOPIC
from ketenbus.agencies import DEADLETTER_TOPIC
from ketenbus.settings import Settings, get_settings
from ketenbus.topics.admin import (
    apply_topics,
    ensure_agency_topics,
    load_topics,
    make_admin,
)

#: Topics every intake process writes besides the agencies' own.
SHARED_TOPICS = (DEADLETTER_TOPIC, FINGERPRINT_TOPIC)


class TopicEnsurer:
    """Creates missing agency topics (and the dead-letter topic) once per process."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._deadletter_ok = False
        self._lock = threading.Lock()
        self._known: set[str] = set()

    def known(self, agency: str) -> bool:
        """Whether the agency's topics were ensured already (no I/O needed)."""
        return agency in self._known

    def ensure_for(self, agency: str) -> None:
        if agency not in self._known:
            ensure_agency_topics(agency, settings=self.settings)
            self._known.add(agency)

    def ensure_shared(self) -> None:
        """The dead-letter and fingerprint topics exist (created from topics.yaml)."""
        self.ensure_deadletter()

    def ensure_deadletter(self) -> None:
        if self._deadletter_ok:
            return
        with self._lock:
            if self._deadletter_ok:
                return
            admin = make_admin(settings=self.settings)
            existing = admin.list_topics(timeout=10).topics
            if any(name not in existing for name in SHARED_TOPICS):
                # both are declared in topics.yaml: apply the whole file
                apply_topics(admin, load_topics(self.settings.topics_file))
            self._deadletter_ok = True
