"""Every Prometheus metric the backbone exports, declared once (names: ketenbus_*)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

# Intake (agency services)
RECORDS_ACCEPTED = Counter(
    "ketenbus_intake_records_accepted_total",
    "Intake records validated and acknowledged by the broker",
    ["agency", "type"],
)
RECORDS_REJECTED = Counter(
    "ketenbus_intake_records_rejected_total",
    "Intake records rejected and dead-lettered",
    ["agency", "type", "reason"],
)
INTAKE_REQUESTS = Counter(
    "ketenbus_intake_requests_total",
    "Intake API requests (a batch: each of its records) by caller and outcome; the audit"
    " trail as a metric (client: the authenticated client id, or `anonymous`)",
    ["service", "client", "outcome"],
)
PRODUCE_SECONDS = Histogram(
    "ketenbus_produce_seconds",
    "Time from produce() to the broker's delivery report",
    ["topic_kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
DELIVERY_ERRORS = Counter(
    "ketenbus_delivery_errors_total",
    "Messages the broker did not acknowledge",
    ["topic_kind", "error"],
)
DEADLETTERS = Counter(
    "ketenbus_deadletters_total",
    "Records routed to the dead-letter topic",
    ["source", "reason"],
)
# Correlator
EVENTS_CORRELATED = Counter(
    "ketenbus_correlator_events_total", "Agency events folded into cases", ["type"]
)
CASES_OPENED = Counter("ketenbus_cases_opened_total", "Cases that became open", ["kind"])
CASE_CHANGES = Counter(
    "ketenbus_case_changes_total", "Case changes written to cases.events", ["kind", "status"]
)
NOTIFICATIONS_SENT = Counter(
    "ketenbus_notifications_sent_total", "Notifications produced", ["recipient"]
)
BACKBONE_CLOCK = Gauge(
    "ketenbus_backbone_clock_seconds", "The event-time clock (latest occurred_at seen), epoch s"
)
INGEST_ALIVE = Gauge(
    "ketenbus_correlator_ingest_up", "1 while the worker's ingest stage consumes, else 0"
)
INGEST_RESTARTS = Counter(
    "ketenbus_correlator_ingest_restarts_total",
    "Times the ingest stage restarted its consumer after a Kafka error (e.g. a rebalance)",
    ["reason"],
)
CORRELATOR_HEAD_REREADS = Counter(
    "ketenbus_correlator_head_rereads_total",
    "Inbox partitions re-read from their committed offset because faust was about to"
    " commit past records no agent had acknowledged (correlator.commit_guard)",
    ["topic"],
)
CORRELATOR_OFFSET_REFRESH_FAILURES = Counter(
    "ketenbus_correlator_offset_refresh_failures_total",
    "Rounds of faust's consumer asking the group coordinator for committed offsets that"
    " failed and are retried (correlator.offset_refresh); by aiokafka error name",
    ["error"],
)
CORRELATOR_STALLED_PARTITIONS = Gauge(
    "ketenbus_correlator_stalled_partitions",
    "Inbox partitions this worker holds that have lag and whose committed offset has not"
    " moved for correlator_stall_seconds (the worker's /healthz is then 503)",
)

# Consumer lag (lagmonitor). These gauges are exposed from the latest sample only (a custom
# collector, registered by the lag monitor service): the series of a group or partition
# that disappeared vanish with it instead of freezing at their last value.


@dataclass(frozen=True)
class GaugeSpec:
    """Name, help text and label names of one gauge family of a `SnapshotGauges`."""

    name: str
    documentation: str
    labels: tuple[str, ...]


CONSUMERGROUP_LAG = GaugeSpec(
    "ketenbus_consumergroup_lag",
    "Messages not consumed yet: log-end offset - committed offset (group must consume it)",
    ("group", "topic", "partition"),
)
CONSUMERGROUP_LAG_SECONDS = GaugeSpec(
    "ketenbus_consumergroup_lag_seconds",
    "Age of the oldest unconsumed record (its timestamp vs now; interpolated if unreadable)",
    ("group", "topic", "partition"),
)
CONSUMERGROUP_COMMITTED_OFFSET = GaugeSpec(
    "ketenbus_consumergroup_committed_offset",
    "Committed offset of the group (absent when it never committed on that partition)",
    ("group", "topic", "partition"),
)
CONSUMERGROUP_STATUS = GaugeSpec(
    "ketenbus_consumergroup_status",
    "Worst partition status of the group: 0 OK, 1 WARNING, 2 REWIND, 3 STALLED, 4 STOPPED",
    ("group", "status"),
)
CONSUMERGROUP_PARTITION_STATUS = GaugeSpec(
    "ketenbus_consumergroup_partition_status",
    "Status of one partition of the group: 0 OK, 1 WARNING, 2 REWIND, 3 STALLED, 4 STOPPED",
    ("group", "topic", "partition", "status"),
)
CONSUMERGROUP_MEMBERS = GaugeSpec(
    "ketenbus_consumergroup_members",
    "Members of the group (0 for an empty group, which is still reported with its lag)",
    ("group", "state"),
)
CONSUMERGROUP_TIME_TO_DRAIN = GaugeSpec(
    "ketenbus_consumergroup_time_to_drain_seconds",
    "Estimated seconds until the group's lag is gone at the rates of the window"
    " (absent while unknown or not draining)",
    ("group",),
)
TOPIC_END_OFFSET = GaugeSpec(
    "ketenbus_topic_end_offset",
    "Log-end offset (high watermark) per topic partition; its rate is the produce rate",
    ("topic", "partition"),
)


class SnapshotGauges:
    """A prometheus_client collector that exposes the gauge values of the latest snapshot."""

    def __init__(self, specs: Sequence[GaugeSpec]) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self._values: dict[str, list[tuple[tuple[str, ...], float]]] = {}
        self._lock = threading.Lock()

    def publish(self, values: Mapping[str, Iterable[tuple[Sequence[str], float]]]) -> None:
        """Replace every family's samples at once: (label values, value) per series."""
        fresh = {
            name: [(tuple(labels), float(value)) for labels, value in values.get(name, ())]
            for name in self._specs
        }
        with self._lock:
            self._values = fresh

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            values = self._values
        for name, spec in self._specs.items():
            family = GaugeMetricFamily(name, spec.documentation, labels=list(spec.labels))
            for labels, value in values.get(name, []):
                family.add_metric(list(labels), value)
            yield family


LAG_GAUGES_SPECS = (
    CONSUMERGROUP_LAG,
    CONSUMERGROUP_LAG_SECONDS,
    CONSUMERGROUP_COMMITTED_OFFSET,
    CONSUMERGROUP_STATUS,
    CONSUMERGROUP_PARTITION_STATUS,
    CONSUMERGROUP_MEMBERS,
    CONSUMERGROUP_TIME_TO_DRAIN,
    TOPIC_END_OFFSET,
)
LAG_GAUGES = SnapshotGauges(LAG_GAUGES_SPECS)
LAGMONITOR_SAMPLES = Counter(
    "ketenbus_lagmonitor_samples_total", "Cluster samples the lag monitor took successfully"
)
LAGMONITOR_SAMPLE_ERRORS = Counter(
    "ketenbus_lagmonitor_sample_errors_total", "Cluster samples that failed", ["error"]
)
LAGMONITOR_SAMPLE_SECONDS = Histogram(
    "ketenbus_lagmonitor_sample_seconds",
    "Time one cluster sample took (admin requests and reading record timestamps)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
LAGMONITOR_LAST_SAMPLE = Gauge(
    "ketenbus_lagmonitor_last_sample_timestamp_seconds",
    "When the lag monitor last sampled the cluster successfully, epoch s",
)

# Webhook bridge (services/operations/webhook)
WEBHOOK_DELIVERIES = Counter(
    "ketenbus_webhook_deliveries_total",
    "HTTP delivery attempts by outcome: delivered (2xx), http_error, connection_error",
    ["subscription", "outcome"],
)
WEBHOOK_DELIVERY_SECONDS = Histogram(
    "ketenbus_webhook_delivery_seconds",
    "Duration of one HTTP delivery attempt (request sent to response or error)",
    ["subscription"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
WEBHOOK_DEAD = Counter(
    "ketenbus_webhook_dead_total",
    "Notifications dead-lettered after the retry budget (or undecodable)",
    ["subscription"],
)
