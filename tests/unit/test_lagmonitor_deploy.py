"""The Prometheus alert rules, scrape config and Grafana dashboard are well-formed and only
name metrics that ketenbus.metrics declares."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

from ketenbus import metrics
from ketenbus.settings import PROJECT_ROOT, Settings

DEPLOY = PROJECT_ROOT / "deploy"
METRIC_NAME = re.compile(r"\bketenbus_[a-z0-9_]+")


def declared_metric_names() -> set[str]:
    """Every series name the backbone can export, as Prometheus will see it."""
    names = {spec.name for spec in metrics.LAG_GAUGES_SPECS}
    for value in vars(metrics).values():
        if isinstance(value, Counter):
            names |= {value._name + "_total", value._name}
        elif isinstance(value, Histogram):
            names |= {value._name + suffix for suffix in ("_bucket", "_sum", "_count")}
        elif isinstance(value, Gauge):
            names.add(value._name)
    return names


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DEPLOY / "grafana" / "ketenbus.json").read_text())
    return loaded


def dashboard_exprs() -> list[str]:
    return [
        target["expr"]
        for panel in dashboard()["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


class TestAlertRules:
    """Every alert rule has expr, for, a severity and annotations telling what to do."""

    @pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
    def test_rule_complete(self, rule: dict[str, Any]) -> None:
        assert {"alert", "expr", "for", "labels", "annotations"} <= set(rule)
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        assert {"summary", "description", "action"} <= set(rule["annotations"])
        assert re.fullmatch(r"\d+[smh]", rule["for"])

    def test_names_unique(self) -> None:
        names = [rule["alert"] for rule in alert_rules()]
        assert sorted(set(names)) == sorted(names)

    def test_required_alerts_present(self) -> None:
        exprs = " ".join(rule["expr"] for rule in alert_rules())
        for needle in (
            "ketenbus_consumergroup_status) == 3",  # stalled
            "ketenbus_consumergroup_status) == 4",  # stopped
            "ketenbus_consumergroup_lag_seconds",
            "ketenbus_deadletters_total",
            "ketenbus_notifications_sent_total",
            'up{job="lagmonitor"}',
        ):
            assert needle in exprs

    def test_only_declared_metrics(self) -> None:
        used = {name for rule in alert_rules() for name in METRIC_NAME.findall(rule["expr"])}
        assert set() == used - declared_metric_names()


class TestScrapeConfig:
    """Prometheus scrapes every service at its configured port and loads the alert rules."""

    def test_jobs_and_ports(self) -> None:
        config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
        targets = {
            target
            for job in config["scrape_configs"]
            for static in job.get("static_configs", [])
            for target in static["targets"]
        }
        targets |= {
            f"{name}:{sd['port']}"
            for job in config["scrape_configs"]
            for sd in job.get("dns_sd_configs", [])
            for name in sd["names"]
        }
        for service in ("gemeente", "nla", "politie", "nau", "correlator", "lagmonitor", "webhook"):
            port = Settings.model_fields[service + "_port"].default  # not the env's override
            assert f"{service}:{port}" in targets
        assert ["alerts.yml"] == config["rule_files"]


class TestDashboard:
    """The Grafana dashboard queries only declared metrics and shows what operators need."""

    def test_every_panel_has_queries(self) -> None:
        panels = [p for p in dashboard()["panels"] if p["type"] != "row"]
        assert all(p["targets"] and all(t["expr"] for t in p["targets"]) for p in panels)
        titles = [p["title"] for p in panels]
        assert sorted(set(titles)) == sorted(titles)

    def test_only_declared_metrics(self) -> None:
        used = {name for expr in dashboard_exprs() for name in METRIC_NAME.findall(expr)}
        assert set() == used - declared_metric_names()

    def test_required_views(self) -> None:
        exprs = " ".join(dashboard_exprs())
        for needle in (
            "ketenbus_consumergroup_lag{",  # lag per group
            "ketenbus_consumergroup_lag_seconds",
            "rate(ketenbus_topic_end_offset",  # throughput in
            "rate(ketenbus_consumergroup_committed_offset",  # throughput out
            "ketenbus_deadletters_total",
            "ketenbus_cases_opened_total",
            "ketenbus_notifications_sent_total",
        ):
            assert needle in exprs
