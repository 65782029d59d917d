"""`ketenbus topics apply|check|acls` and ensure_agency_topics against the real broker.

Each test writes its own topics file whose topic names carry a unique prefix, so it never
touches the topics other tests use; one test applies the repository's real topics.yaml.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)
from typer.testing import CliRunner, Result

from ketenbus.commands import topics as cli_topics
from ketenbus.kafka_clients import client_config
from ketenbus.settings import PROJECT_ROOT, Settings
from ketenbus.topics.admin import (
    apply_topics,
    check_topics,
    clear_ensure_cache,
    ensure_agency_topics,
    make_admin,
)
from ketenbus.topics.spec import TopicsFile, load_topics

pytestmark = pytest.mark.broker

WEEK_MS = str(7 * 86_400_000)


def _topics_file(prefix: str) -> dict[str, Any]:
    return {
        "version": 1,
        "defaults": {"partitions": 2, "replication_factor": 3, "min_insync_replicas": 2},
        "agencies": [
            {
                "code": "nla",
                "name": "Nederlandse Arbeidsinspectie",
                "kind": "labour_inspectorate",
                "oin": "00000001003214345000",
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
                "name": f"{prefix}.events.nla",
                "owner": "nla",
                "retention": "infinite",
                "schemas": ["nl.ketenbus.events.Complaint"],
                "producers": ["nla"],
                "consumers": ["correlator"],
            },
            {
                "pattern": f"{prefix}.events.gemeente.{{cbs}}",
                "owner": "gemeente:{cbs}",
                "partitions": 3,
                "producers": ["gemeente:{cbs}"],
                "consumers": ["correlator"],
            },
            {
                "pattern": f"{prefix}.notifications.gemeente.{{cbs}}",
                "owner": "gemeente:{cbs}",
                "partitions": 1,
                "retention": "7d",
                "schemas": ["nl.ketenbus.cases.Notification"],
                "producers": ["correlator"],
                "consumers": ["gemeente:{cbs}"],
            },
            {
                "name": f"{prefix}.cases",
                "key": "case_id",
                "cleanup_policy": "compact",
                "retention": "infinite",
                "configs": {"min.compaction.lag.ms": 60000},
                "producers": ["correlator"],
                "consumers": ["correlator"],
            },
        ],
    }


class Workspace:
    """A temporary topics file with unique topic names, and the admin to inspect the cluster."""

    def __init__(self, tmp_path: Path, bootstrap_servers: str) -> None:
        self.prefix = f"tadm{uuid.uuid4().hex[:8]}"
        self.path = tmp_path / "topics.yaml"
        self.path.write_text(yaml.safe_dump(_topics_file(self.prefix)), encoding="utf-8")
        self.bootstrap_servers = bootstrap_servers
        self.admin = AdminClient(client_config(bootstrap_servers=bootstrap_servers))
        self.app = typer.Typer()
        cli_topics.register(self.app)

    @property
    def spec(self) -> TopicsFile:
        return load_topics(self.path)

    def name(self, suffix: str) -> str:
        return f"{self.prefix}.{suffix}"

    def run(self, *args: str) -> Result:
        """`ketenbus topics <args> --file <tmp file> -b <broker>` (topics only: this file's
        ACLs must not replace those of topics.yaml on the shared test broker)."""
        command = [args[0], *args[1:], "--file", str(self.path), "-b", self.bootstrap_servers]
        if args[0] in {"apply", "check"}:
            command.append("--no-acls")
        return CliRunner().invoke(self.app, ["topics", *command])

    def partitions(self, topic: str) -> int:
        return len(self.admin.list_topics(topic, timeout=10).topics[topic].partitions)

    def config(self, topic: str, key: str) -> str:
        resource = ConfigResource(ResourceType.TOPIC, topic)
        entries = self.admin.describe_configs([resource])[resource].result(30)
        return str(entries[key].value)

    def own_topics(self) -> list[str]:
        names = self.admin.list_topics(timeout=10).topics
        return sorted(n for n in names if n.startswith(self.prefix + "."))

    def cleanup(self) -> None:
        names = self.own_topics()
        if names:
            for future in self.admin.delete_topics(names, operation_timeout=30).values():
                with suppress(Exception):  # cleanup only: a leftover test topic harms nobody
                    future.result(30)


@pytest.fixture
def ws(tmp_path: Path, bootstrap_servers: str) -> Iterator[Workspace]:
    workspace = Workspace(tmp_path, bootstrap_servers)
    yield workspace
    workspace.cleanup()


class TestApply:
    """apply creates the file's topics once; a second apply and check find nothing to do."""

    def test_apply_twice_then_check(self, ws: Workspace) -> None:
        first = ws.run("apply")
        assert 0 == first.exit_code, first.output
        expected = sorted(
            [
                ws.name("events.nla"),
                ws.name("events.gemeente.0599"),
                ws.name("notifications.gemeente.0599"),
                ws.name("cases"),
            ]
        )
        assert expected == sorted(
            line.removeprefix("created ")
            for line in first.stdout.splitlines()
            if line.startswith("created ")
        )
        assert expected == ws.own_topics()

        second = ws.run("apply")
        assert (0, "topics up to date: no changes\n") == (second.exit_code, second.stdout)
        check = ws.run("check")
        assert (0, "no drift\n") == (check.exit_code, check.stdout)

    def test_topics_have_the_files_settings(self, ws: Workspace) -> None:
        assert 0 == ws.run("apply").exit_code
        cases = ws.name("cases")
        assert 2 == ws.partitions(cases)
        assert 3 == ws.partitions(ws.name("events.gemeente.0599"))
        assert "compact" == ws.config(cases, "cleanup.policy")
        assert "60000" == ws.config(cases, "min.compaction.lag.ms")
        assert "-1" == ws.config(ws.name("events.nla"), "retention.ms")
        assert WEEK_MS == ws.config(ws.name("notifications.gemeente.0599"), "retention.ms")

    def test_replication_capped_to_brokers_with_warning(self, ws: Workspace) -> None:
        brokers = len(ws.admin.list_topics(timeout=10).brokers)
        result = ws.run("apply")
        topic = ws.admin.list_topics(ws.name("events.nla"), timeout=10).topics[
            ws.name("events.nla")
        ]
        replicas = {len(p.replicas) for p in topic.partitions.values()}
        assert {min(3, brokers)} == replicas
        assert str(min(2, brokers)) == ws.config(ws.name("events.nla"), "min.insync.replicas")
        assert (brokers < 3) == ("capped to" in result.stderr)


class TestDrift:
    """check reports a cluster that diverged from the file and exits 1; apply repairs it."""

    def test_topic_created_behind_the_files_back(self, ws: Workspace) -> None:
        nla = ws.name("events.nla")
        config = {"retention.ms": "1000", "segment.ms": "600000"}
        ws.admin.create_topics([NewTopic(nla, 1, 1, config=config)])[nla].result(30)

        check = ws.run("check")
        assert 1 == check.exit_code
        assert {
            f"{nla}: partitions file 2, cluster 1",
            f"{nla}: config retention.ms file -1, cluster 1000",
            f"{nla}: config segment.ms=600000 is not in the file",
            f"{ws.name('cases')}: missing on the cluster",
        } <= set(check.stdout.splitlines())

        fixed = ws.run("apply")
        assert 0 == fixed.exit_code, fixed.output
        assert f"partitions raised: {nla} -> 2" in fixed.stdout
        assert f"configs changed: {nla}: retention.ms, segment.ms" in fixed.stdout
        assert (0, "no drift\n") == (ws.run("check").exit_code, ws.run("check").stdout)
        assert (2, "-1") == (ws.partitions(nla), ws.config(nla, "retention.ms"))

    def test_applied_topic_changed_behind_the_files_back(self, ws: Workspace) -> None:
        assert 0 == ws.run("apply").exit_code
        cases = ws.name("cases")
        change = ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)
        resource = ConfigResource(ResourceType.TOPIC, cases, incremental_configs=[change])
        ws.admin.incremental_alter_configs([resource])[resource].result(30)
        ws.admin.create_partitions([NewPartitions(cases, 4)])[cases].result(30)

        check = ws.run("check", "--json")
        assert 1 == check.exit_code
        drifts = {(d["kind"], d["config"], d["fixable"]) for d in yaml.safe_load(check.stdout)}
        assert {("partitions", None, False), ("config", "retention.ms", True)} == drifts

        # apply repairs what Kafka allows, and fails on the partition decrease it cannot do
        repair = ws.run("apply")
        assert 1 == repair.exit_code
        assert "partitions cannot be decreased" in repair.stderr
        assert "-1" == ws.config(cases, "retention.ms")
        after = ws.run("check")
        hint = " (partitions cannot be decreased: recreate the topic)"
        assert (1, [f"{cases}: partitions file 2, cluster 4{hint}"]) == (
            after.exit_code,
            [line for line in after.stdout.splitlines() if line.startswith(cases)],
        )

    def test_partition_increase_in_the_file(self, ws: Workspace) -> None:
        assert 0 == ws.run("apply").exit_code
        raw = _topics_file(ws.prefix)
        raw["topics"][0]["partitions"] = 5
        ws.path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        assert 1 == ws.run("check").exit_code
        assert 0 == ws.run("apply").exit_code
        assert 5 == ws.partitions(ws.name("events.nla"))


class TestAgencyTopicsOnFirstUse:
    """A municipality not in the file gets its topics from the pattern entry on first use."""

    def test_new_municipality(self, ws: Workspace) -> None:
        clear_ensure_cache()
        settings = Settings(bootstrap_servers=ws.bootstrap_servers)
        spec = ws.spec
        names = ensure_agency_topics("gemeente:0344", ws.admin, spec=spec, settings=settings)
        source, notifications = (
            ws.name("events.gemeente.0344"),
            ws.name("notifications.gemeente.0344"),
        )
        assert [source, notifications] == names
        assert {source, notifications} <= set(ws.own_topics())
        assert (3, 1) == (ws.partitions(source), ws.partitions(notifications))
        assert WEEK_MS == ws.config(notifications, "retention.ms")

        # cached: a second call does no I/O (an unreachable admin is never asked)
        unreachable = make_admin("127.0.0.1:1")
        assert names == ensure_agency_topics(
            "gemeente:0344", unreachable, spec=spec, settings=settings
        )
        # idempotent against the cluster when the cache is gone
        clear_ensure_cache()
        assert names == ensure_agency_topics(
            "gemeente:0344", ws.admin, spec=spec, settings=settings
        )

        # topics created on use are managed from then on: apply and check include them
        assert 0 == ws.run("apply").exit_code
        check = ws.run("check")
        assert (0, "no drift\n") == (check.exit_code, check.stdout)
        change = ConfigEntry("retention.ms", "5000", incremental_operation=AlterConfigOpType.SET)
        resource = ConfigResource(ResourceType.TOPIC, source, incremental_configs=[change])
        ws.admin.incremental_alter_configs([resource])[resource].result(30)
        assert (
            f"{source}: config retention.ms file 2592000000, cluster 5000" in ws.run("check").stdout
        )


class TestAcls:
    """ACLs are printed from the file (applying them: tests/integration/test_acl_matrix.py,
    on the real topics.yaml, since applying makes the cluster's ACLs exactly the file's)."""

    def test_print(self, ws: Workspace) -> None:
        result = CliRunner().invoke(
            ws.app, ["topics", "acls", "--file", str(ws.path), "-m", "0344"]
        )
        assert 0 == result.exit_code
        assert (
            f"User:gemeente-0344 ALLOW WRITE on TOPIC LITERAL {ws.name('events.gemeente.0344')}"
            in result.stdout.splitlines()
        )


class TestRealTopicsFile:
    """The repository's topics.yaml applies cleanly and leaves no drift."""

    def test_applies_cleanly(self, bootstrap_servers: str) -> None:
        admin = make_admin(bootstrap_servers)
        spec = load_topics(PROJECT_ROOT / "topics.yaml", schemas_dir=PROJECT_ROOT / "schemas")
        report, _ = apply_topics(admin, spec)
        assert [] == report.errors
        drifts, _ = check_topics(admin, spec)
        assert [] == drifts
        topics = admin.list_topics(timeout=10).topics
        assert {"events.nla", "events.gemeente.0599", "cases.events", "deadletter"} <= set(topics)
