"""A small, valid topics.yaml as a dict, for unit tests to vary."""

from __future__ import annotations

import copy
from typing import Any

from ketenbus.topics.spec import TopicsFile, parse_topics

_MINIMAL: dict[str, Any] = {
    "version": 1,
    "defaults": {"partitions": 6, "replication_factor": 3, "min_insync_replicas": 2},
    "agencies": [
        {
            "code": "nla",
            "name": "Nederlandse Arbeidsinspectie",
            "kind": "labour_inspectorate",
            "oin": "00000001003214345000",
            "oin_placeholder": True,
            "principal": "User:nla",
        },
        {
            "code": "gemeente:{cbs}",
            "name": "Gemeente {cbs}",
            "kind": "municipality",
            "oin": "000000010000{cbs}0000",
            "principal": "User:gemeente-{cbs}",
        },
        {
            "code": "gemeente:0599",
            "name": "Gemeente Rotterdam",
            "kind": "municipality",
            "oin": "00000001000005990000",
            "principal": "User:gemeente-0599",
        },
    ],
    "services": [
        {"name": "correlator", "principal": "User:corr", "group_prefixes": ["corr"]},
    ],
    "topics": [
        {
            "name": "events.nla",
            "owner": "nla",
            "retention": "infinite",
            "schemas": ["nl.ketenbus.events.Complaint"],
            "producers": ["nla"],
            "consumers": ["correlator"],
        },
        {
            "pattern": "events.gemeente.{cbs}",
            "owner": "gemeente:{cbs}",
            "partitions": 3,
            "producers": ["gemeente:{cbs}"],
            "consumers": ["correlator"],
        },
        {
            "pattern": "notifications.gemeente.{cbs}",
            "owner": "gemeente:{cbs}",
            "partitions": 2,
            "retention": "7d",
            "producers": ["correlator"],
            "consumers": ["gemeente:{cbs}"],
        },
        {
            "name": "cases.events",
            "key": "case_id",
            "cleanup_policy": "compact",
            "configs": {"min.compaction.lag.ms": 1000},
            "producers": ["correlator"],
            "consumers": ["correlator"],
        },
    ],
    "internal": [{"prefix": "corr-", "managed_by": "correlator"}],
}


def raw_spec() -> dict[str, Any]:
    """A deep copy of the minimal valid topics file, to change in a test."""
    return copy.deepcopy(_MINIMAL)


def spec(raw: dict[str, Any] | None = None) -> TopicsFile:
    return parse_topics(raw if raw is not None else raw_spec())
