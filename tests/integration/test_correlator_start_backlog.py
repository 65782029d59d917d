"""A correlator worker that is assigned inbox partitions with records already waiting
folds every one of them into its case: none is dropped while faust finishes the
rebalance (faust 0.15.3 threw away what it fetched during its post-recovery seek; see
correlator.rebalance), and its partitions drain to lag 0.

A first worker folds some records (its tables get state), then stops; the rest are
routed into the inboxes by an ingest stage of the test's own (another consumer group)
while no worker runs, so every inbox partition has records waiting when the next worker
joins and recovers its tables.
Without the workaround it failed in 1 of 3 runs tried here (faust's fetcher must wake up
during the seek, a race), with records lost and one partition stuck; the fault runs
(tests/integration/test_scaleout_faults_e2e.py) hit the defect more often.

Rules: docs/correlation.md#rule-8.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from convergence import RECORDS

from correlator.ingest import Ingest, create_internal_topics
from devtools.sandbox import Backbone
from ketenbus.settings import Settings

pytestmark = [pytest.mark.broker, pytest.mark.timeout(600)]


def preload_inboxes(backbone: Backbone, monkeypatch: pytest.MonkeyPatch) -> None:
    """Route the published records into the inboxes without a correlator worker."""
    for key, value in backbone.env.items():
        monkeypatch.setenv(key, value)
    settings = Settings(correlator_group="ketenbus-test-preload")
    create_internal_topics(settings)  # the inboxes, as a worker makes them before it starts
    ingest = Ingest(settings)
    ingest.start()
    try:
        backbone.cli("wait-idle", "--group", settings.correlator_group, "--timeout", "120")
        time.sleep(2)  # its last clock ticks
    finally:
        ingest.stop()


class TestWorkerJoiningWithBacklog:
    """Every record waiting in the inboxes when a worker joins ends up in a case."""

    def test_no_record_dropped(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        records = [r for r in RECORDS if r.get("address")]
        first, rest = records[:40], records[40:]
        backbone = Backbone(tmp_path).start()
        try:
            # tables with state: the next worker recovers them, so faust's fetcher runs
            # while it seeks the inboxes (the window in which it dropped records)
            backbone.publish(first)
            backbone.wait_idle(120)
            backbone.stop_correlator(signal.SIGTERM)
            backbone.publish(rest)
            preload_inboxes(backbone, monkeypatch)  # no worker: the inboxes fill up
            backbone.start_correlator()
            backbone.wait_idle(120)
            cases = backbone.cases()
        finally:
            backbone.stop()
        folded = {
            event.rsplit("/", 1)[-1]
            for case in cases.values()
            if case["kind"] == "dwelling"
            for event in case["events"]
        }
        assert set() == {r["ref"] for r in records} - folded
