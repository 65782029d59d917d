"""The lag monitor service: samples the cluster every few seconds, exposes Prometheus metrics.

`python -m operations.lagmonitor` serves http://<metrics bind address>:<lagmonitor port>/metrics
(KETENBUS_METRICS_BIND_ADDRESS, default 127.0.0.1).
"""

from __future__ import annotations

import threading
import time

from prometheus_client import REGISTRY, start_http_server

from ketenbus import metrics
from ketenbus.logging import configure_logging, get_logger
from ketenbus.processes import stop_on_signals
from ketenbus.settings import get_settings
from operations.lagmonitor.collector import LagCollector
from operations.lagmonitor.model import LagReport, Status
from operations.lagmonitor.status import LagTracker

log = get_logger("lagmonitor")

Series = list[tuple[tuple[str, ...], float]]


def exposition(report: LagReport) -> dict[str, Series]:
    """The gauge values of one report, keyed by metric name (see ketenbus.metrics)."""
    values: dict[str, Series] = {spec.name: [] for spec in metrics.LAG_GAUGES_SPECS}
    for group in report.groups:
        values[metrics.CONSUMERGROUP_STATUS.name].append(
            ((group.group, group.status.name), float(group.status))
        )
        values[metrics.CONSUMERGROUP_MEMBERS.name].append(
            ((group.group, group.state), float(group.members))
        )
        if group.time_to_drain is not None:
            values[metrics.CONSUMERGROUP_TIME_TO_DRAIN.name].append(
                ((group.group,), group.time_to_drain)
            )
        for p in group.partitions:
            labels = (group.group, p.topic, str(p.partition))
            values[metrics.CONSUMERGROUP_LAG.name].append((labels, float(p.lag)))
            values[metrics.CONSUMERGROUP_LAG_SECONDS.name].append((labels, p.lag_seconds))
            if p.committed is not None:
                values[metrics.CONSUMERGROUP_COMMITTED_OFFSET.name].append(
                    (labels, float(p.committed))
                )
            values[metrics.CONSUMERGROUP_PARTITION_STATUS.name].append(
                ((*labels, p.status.name), float(p.status))
            )
    for (topic, partition), end in sorted(report.end_offsets.items()):
        values[metrics.TOPIC_END_OFFSET.name].append(((topic, str(partition)), float(end)))
    return values


class LagMonitor:
    """Sample, evaluate, publish; again every `interval` seconds until stopped."""

    def __init__(self, collector: LagCollector, tracker: LagTracker, interval: float) -> None:
        self.collector = collector
        self.tracker = tracker
        self.interval = interval
        self._worst: Status | None = None

    def run_once(self) -> LagReport:
        with metrics.LAGMONITOR_SAMPLE_SECONDS.time():
            report = self.tracker.observe(self.collector.sample())
        metrics.LAG_GAUGES.publish(exposition(report))
        metrics.LAGMONITOR_SAMPLES.inc()
        metrics.LAGMONITOR_LAST_SAMPLE.set(report.taken_at)
        if report.status != self._worst:  # log transitions, not every sample
            log.info(
                "cluster_status_changed",
                status=report.status.name,
                groups={g.group: g.status.name for g in report.groups},
            )
            self._worst = report.status
        return report

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.run_once()
            except Exception as exc:  # the service boundary: keep sampling, count the failure
                metrics.LAGMONITOR_SAMPLE_ERRORS.labels(error=type(exc).__name__).inc()
                log.warning("cluster_sample_failed", error=str(exc), kind=type(exc).__name__)
            stop.wait(max(0.0, self.interval - (time.monotonic() - started)))


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    REGISTRY.register(metrics.LAG_GAUGES)
    start_http_server(settings.lagmonitor_port, addr=settings.metrics_bind_address)
    stop = stop_on_signals(log)
    log.info(
        "lagmonitor_started",
        port=settings.lagmonitor_port,
        interval=settings.lagmonitor_interval_seconds,
        window=settings.lagmonitor_window,
        bootstrap_servers=settings.bootstrap_servers,
    )
    with LagCollector(settings.bootstrap_servers) as collector:
        monitor = LagMonitor(
            collector,
            LagTracker(window_size=settings.lagmonitor_window),
            settings.lagmonitor_interval_seconds,
        )
        monitor.run(stop)
    log.info("lagmonitor_stopped")
