"""The lag monitor service: samples the cluster every few seconds, exposes Prometheus metrics
and its evaluated status.

`python -m operations.lagmonitor` serves, on <KETENBUS_METRICS_BIND_ADDRESS, default
127.0.0.1>:<settings.lagmonitor_port>:
- `/metrics`: Prometheus text;
- `/status`: the latest evaluated report as JSON (what `ketenbus lag` prints), with the
  window it was evaluated over; 503 before the first sample;
- `/healthz`: 200 while samples succeed, 503 when the last one is older than 3 intervals.
"""

from __future__ import annotations

import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from prometheus_client import REGISTRY

from ketenbus import metrics
from ketenbus.logging import configure_logging, get_logger
from ketenbus.processes import stop_on_signals
from ketenbus.settings import get_settings
from operations import http
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
        self.latest: LagReport | None = None

    def status_document(self) -> dict[str, Any] | None:
        """The latest report as `/status` serves it, or None before the first sample."""
        report = self.latest
        if report is None:
            return None
        return {
            "source": "lagmonitor",
            "window_size": self.tracker.window_size,
            "interval_seconds": self.interval,
            **report.to_dict(),
        }

    def fresh(self, now: float | None = None) -> bool:
        """Whether the latest sample is recent (at most three intervals old)."""
        report = self.latest
        now = time.time() if now is None else now
        return report is not None and now - report.taken_at <= 3 * max(self.interval, 1.0)

    def run_once(self) -> LagReport:
        with metrics.LAGMONITOR_SAMPLE_SECONDS.time():
            report = self.tracker.observe(self.collector.sample())
        metrics.LAG_GAUGES.publish(exposition(report))
        metrics.LAGMONITOR_SAMPLES.inc()
        metrics.LAGMONITOR_LAST_SAMPLE.set(report.taken_at)
        self.latest = report
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


def serve(monitor: LagMonitor, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serve /metrics, /status and /healthz in a daemon thread."""

    def status() -> http.Answer:
        document = monitor.status_document()
        if document is None:
            return 503, {"error": "no sample yet"}
        return 200, document

    return http.serve(
        "lagmonitor", port, host, lambda: {"ok": monitor.fresh()}, {"/status": status}
    )


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    REGISTRY.register(metrics.LAG_GAUGES)
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
        server = serve(monitor, settings.lagmonitor_port, settings.metrics_bind_address)
        try:
            monitor.run(stop)
        finally:
            server.shutdown()
    log.info("lagmonitor_stopped")
