"""Every Prometheus metric the backbone exports, declared once (names: ketenbus_*)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
