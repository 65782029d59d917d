"""Scale-out under faults: N correlator workers killed at random moments, rolling restarts
and a broker of a 3-node quorum killed mid-stream all converge to exactly the cases and
final notifications of an uninterrupted single-worker run (rules 4 and 8).

Every run publishes the same records (the rule scenario + 400 synthetic ones); the faulty
runs publish them shuffled, in chunks, with a fault after each chunk. The workers run as
`ketenbus up --workers N` runs them: each under a keeper that starts it again when it
exits, or when its `/healthz` answers 503 (its ingest died, or a partition it holds has
lag that does not move); the figures count those health restarts. Convergence is
`ketenbus wait-idle` returning within CONVERGENCE_BOUND_S of the last fault. Figures
(kills, seconds to converge, records and cases checked) go to `$KETENBUS_FAULT_FIGURES`
(a JSON-lines file) when it is set, for docs/operations.md.

Rules: docs/correlation.md#rule-4, docs/correlation.md#rule-8.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from convergence import RECORDS, Finals, final_notifications, publish_in_chunks

from devtools.embedded_kafka import LocalCluster
from devtools.keeper import current_child, health_problem
from devtools.sandbox import Backbone, public
from devtools.supervisor import Supervisor, correlator_services
from ketenbus.settings import Settings

# Each run starts its own broker (or quorum) and workers: longer than the suite default.
pytestmark = [pytest.mark.broker, pytest.mark.faults, pytest.mark.timeout(900)]

Cases = dict[str, dict[str, Any]]

#: The stated bound: after the last fault, the backbone is idle (every group's lag 0)
#: within this many seconds. A SIGKILLed member holds its partitions until its session
#: times out (librdkafka 45 s, faust/aiokafka 60 s) before they move to a live worker.
CONVERGENCE_BOUND_S = 240.0


def log_count(home: Path, event: str) -> int:
    """How often the workers under `home` logged `event` (e.g. ingest_consumer_restarted)."""
    return sum(p.read_text(errors="replace").count(event) for p in home.glob("correlator*.log"))


def record_figures(**figures: Any) -> None:
    path = os.environ.get("KETENBUS_FAULT_FIGURES")
    if path:
        with Path(path).open("a") as out:
            out.write(json.dumps(figures) + "\n")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cases, Finals]:
    """One worker, records in order, no fault: the yardstick."""
    backbone = Backbone(Path(tmp_path_factory.mktemp("reference"))).start()
    try:
        backbone.publish(RECORDS)
        backbone.wait_idle(CONVERGENCE_BOUND_S)
        cases = backbone.cases()
        finals = final_notifications(backbone, cases)
    finally:
        backbone.stop()  # its broker and worker would only compete with the faulty runs
    return cases, finals


def converged(backbone: Backbone) -> tuple[Cases, Finals, float]:
    started = time.monotonic()
    backbone.wait_idle(CONVERGENCE_BOUND_S)
    waited = time.monotonic() - started
    cases = backbone.cases()
    return cases, final_notifications(backbone, cases), waited


def assert_same(reference: tuple[Cases, Finals], cases: Cases, finals: Finals) -> None:
    expected = {key: public(case) for key, case in reference[0].items()}
    actual = {key: public(case) for key, case in cases.items()}
    keys = expected.keys() | actual.keys()
    differing = sorted(k for k in keys if expected.get(k) != actual.get(k))
    told = sorted(map(str, reference[1] ^ finals))
    assert (expected, reference[1]) == (actual, finals), (
        f"{len(differing)} cases differ, first {differing[:5]}: "
        f"{[(expected.get(k), actual.get(k)) for k in differing[:2]]}; "
        f"{len(told)} final notifications differ, first {told[:4]}"
    )


class TestReference:
    """The single-worker run is a real yardstick: many cases, every party told."""

    def test_many_cases_with_notified_parties(self, reference: tuple[Cases, Finals]) -> None:
        cases, finals = reference
        assert (True, True) == (len(cases) > 50, len(finals) > 50)


class TestTwoWorkersKilledAtRandom:
    """Two supervised workers; after each chunk of shuffled records a random worker is
    SIGKILLed at a random moment (its keeper starts it again): same cases, same final
    notifications."""

    def test_converges_to_the_reference(
        self, reference: tuple[Cases, Finals], tmp_path: Path
    ) -> None:
        rng = random.Random(21)
        backbone = Backbone(tmp_path, supervised=True).start()
        backbone.start_correlator(2)
        kills = 0

        def fault(_: int) -> None:
            nonlocal kills
            time.sleep(rng.uniform(0.0, 4.0))
            victim = rng.choice(sorted(backbone.workers))
            backbone.kill_worker(victim, signal.SIGKILL)
            kills += 1

        try:
            publish_in_chunks(backbone, RECORDS, chunks=4, rng=rng, after_chunk=fault)
            cases, finals, waited = converged(backbone)
            record_figures(
                test="two_workers_sigkill",
                workers=2,
                kills=kills,
                converged_s=round(waited, 1),
                records=len(RECORDS),
                cases=len(cases),
                notifications=len(finals),
                ingest_restarts=log_count(tmp_path, "ingest_consumer_restarted"),
                ingest_died=log_count(tmp_path, "ingest_died"),
                health_restarts=log_count(tmp_path, '"reason": "unhealthy'),
            )
            assert_same(reference, cases, finals)
        finally:
            backbone.stop()


class TestThreeWorkersRollingRestartAndKills:
    """Three supervised workers: a rolling restart (SIGTERM, its keeper starts it again,
    one worker at a time) while records stream in, then SIGKILLs of random workers at
    random moments: same cases."""

    def test_converges_to_the_reference(
        self, reference: tuple[Cases, Finals], tmp_path: Path
    ) -> None:
        rng = random.Random(33)
        backbone = Backbone(tmp_path, supervised=True).start()
        backbone.start_correlator(2)
        backbone.start_correlator(3)
        faults: list[str] = []

        def fault(chunk: int) -> None:
            if chunk < 3:  # rolling restart: worker 1, 2, 3 in turn
                worker = chunk + 1
                stopped = backbone.kill_worker(worker, signal.SIGTERM)
                backbone.wait_restarted(worker, stopped)
                faults.append(f"restart-{worker}")
            else:
                time.sleep(rng.uniform(0.0, 4.0))
                victim = rng.choice(sorted(backbone.workers))
                backbone.kill_worker(victim, signal.SIGKILL)
                faults.append(f"kill-{victim}")

        try:
            publish_in_chunks(backbone, RECORDS, chunks=5, rng=rng, after_chunk=fault)
            cases, finals, waited = converged(backbone)
            record_figures(
                test="three_workers_rolling_restart_and_sigkill",
                workers=3,
                faults=faults,
                kills=sum(f.startswith("kill") for f in faults),
                converged_s=round(waited, 1),
                records=len(RECORDS),
                cases=len(cases),
                notifications=len(finals),
                ingest_restarts=log_count(tmp_path, "ingest_consumer_restarted"),
                ingest_died=log_count(tmp_path, "ingest_died"),
                health_restarts=log_count(tmp_path, '"reason": "unhealthy'),
            )
            assert_same(reference, cases, finals)
        finally:
            backbone.stop()


class TestClusterBrokerKilled:
    """The whole path on a 3-node quorum: a broker SIGKILLed mid-stream and restarted
    loses no acknowledged record and changes no final case."""

    def test_no_record_lost_no_case_changed(
        self, reference: tuple[Cases, Finals], tmp_path: Path
    ) -> None:
        rng = random.Random(45)
        backbone = Backbone(tmp_path, cluster=True, supervised=True).start()
        backbone.start_correlator(2)
        cluster = backbone.broker
        assert isinstance(cluster, LocalCluster)
        killed: list[int] = []

        def fault(chunk: int) -> None:
            if chunk == 1:
                time.sleep(rng.uniform(0.5, 3.0))
                node = rng.randint(1, 3)
                cluster.stop_node(node, kill=True)
                killed.append(node)
            elif chunk == 2:
                cluster.start_node(killed[-1])

        try:
            publish_in_chunks(backbone, RECORDS, chunks=4, rng=rng, after_chunk=fault)
            cases, finals, waited = converged(backbone)
            acknowledged = backbone.source_record_count()
            record_figures(
                test="cluster_broker_sigkill",
                workers=2,
                broker_killed=killed,
                converged_s=round(waited, 1),
                records=len(RECORDS),
                acknowledged_on_topics=acknowledged,
                cases=len(cases),
                notifications=len(finals),
                ingest_restarts=log_count(tmp_path, "ingest_consumer_restarted"),
                ingest_died=log_count(tmp_path, "ingest_died"),
                health_restarts=log_count(tmp_path, '"reason": "unhealthy'),
            )
            assert len(RECORDS) == acknowledged
            assert_same(reference, cases, finals)
        finally:
            backbone.stop()


class TestSupervisedWorkers:
    """`ketenbus up --workers 2` machinery: each worker under a keeper, with its own data
    directory; a SIGKILLed worker is started again and reports healthy."""

    def test_killed_worker_restarted(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        backbone = Backbone(tmp_path).start()
        backbone.stop_correlator(signal.SIGTERM)  # the supervisor runs the workers here
        for key, value in backbone.env.items():
            monkeypatch.setenv(key, value)
        settings = Settings().model_copy(update={"correlator_workers": 2})
        specs = correlator_services(settings)
        supervisor = Supervisor(settings, services=specs)
        ports = [spec.port(settings) for spec in specs]
        try:
            keepers = [supervisor.start(spec)[0] for spec in specs]
            pairs = zip(keepers, ports, strict=True)
            first = [wait_healthy_child(keeper, port, None) for keeper, port in pairs]
            os.kill(first[1], signal.SIGKILL)
            again = wait_healthy_child(keepers[1], ports[1], first[1])
            locks = sorted(
                p.parent.name for p in (tmp_path / "correlator").glob("worker-*/worker.lock")
            )
        finally:
            for spec in specs:
                supervisor.stop(spec)
            backbone.stop()
        assert (["correlator", "correlator-2"], ["worker-1", "worker-2"], True) == (
            [spec.name for spec in specs],
            locks,
            again != first[1],
        )


def wait_healthy_child(keeper: int, port: int | None, old: int | None) -> int:
    """The keeper's current child once it is new (not `old`) and answers /healthz 200."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        child = current_child(keeper)
        if child is not None and child != old and healthy(port):
            return child
        time.sleep(1.0)
    raise AssertionError(f"no new healthy worker under keeper {keeper}")


def healthy(port: int | None) -> bool:
    """Whether the worker on `port` answers /healthz 2xx (the keeper's own check)."""
    return health_problem(f"http://127.0.0.1:{port}/healthz", timeout=2) is None
