"""The embedded broker's pure parts: config rendering, ids, tool detection, jar cache."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.embedded_kafka import (
    KAFKA_POM,
    NodeConfig,
    ToolMissing,
    cluster_node_port,
    ensure_jars,
    find_java,
    new_cluster_id,
    parse_java_major,
    pom_digest,
    properties_text,
    render_properties,
)


def _single(tmp_path: Path) -> dict[str, str]:
    return render_properties(
        NodeConfig(node_id=1, port=19092, voters=((1, 19093),), data_dir=tmp_path / "data")
    )


def _quorum_node(tmp_path: Path, node_id: int) -> dict[str, str]:
    voters = tuple((n, cluster_node_port(19192, n) + 1) for n in (1, 2, 3))
    return render_properties(
        NodeConfig(
            node_id=node_id,
            port=cluster_node_port(19192, node_id),
            voters=voters,
            data_dir=tmp_path / f"node-{node_id}",
        )
    )


class TestSingleNodeProperties:
    """A single node is a combined broker+controller on loopback with replication 1."""

    def test_listeners_are_on_loopback_with_controller_on_the_next_port(
        self, tmp_path: Path
    ) -> None:
        props = _single(tmp_path)
        assert "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093" == props["listeners"]
        assert "PLAINTEXT://127.0.0.1:19092" == props["advertised.listeners"]
        assert "1@127.0.0.1:19093" == props["controller.quorum.voters"]
        assert "broker,controller" == props["process.roles"]

    def test_internal_topics_have_replication_one(self, tmp_path: Path) -> None:
        props = _single(tmp_path)
        assert "1" == props["offsets.topic.replication.factor"]
        assert "1" == props["transaction.state.log.replication.factor"]
        assert "1" == props["transaction.state.log.min.isr"]
        assert "1" == props["min.insync.replicas"]

    def test_topics_come_only_from_topics_yaml(self, tmp_path: Path) -> None:
        props = _single(tmp_path)
        assert "false" == props["auto.create.topics.enable"]
        assert "3" == props["num.partitions"]
        assert "0" == props["group.initial.rebalance.delay.ms"]

    def test_data_lives_in_the_given_dir(self, tmp_path: Path) -> None:
        assert str(tmp_path / "data") == _single(tmp_path)["log.dirs"]


class TestQuorumProperties:
    """Each node of the 3-node quorum lists all voters and replicates 3 ways with min ISR 2."""

    def test_every_node_lists_the_same_three_voters(self, tmp_path: Path) -> None:
        expected = "1@127.0.0.1:19193,2@127.0.0.1:19195,3@127.0.0.1:19197"
        actual = {_quorum_node(tmp_path, n)["controller.quorum.voters"] for n in (1, 2, 3)}
        assert {expected} == actual

    def test_node_ports_are_pairs_above_the_base_port(self, tmp_path: Path) -> None:
        props = _quorum_node(tmp_path, 2)
        assert "2" == props["node.id"]
        assert "PLAINTEXT://127.0.0.1:19194,CONTROLLER://127.0.0.1:19195" == props["listeners"]

    def test_durability_defaults(self, tmp_path: Path) -> None:
        props = _quorum_node(tmp_path, 1)
        expected = {
            "default.replication.factor": "3",
            "min.insync.replicas": "2",
            "unclean.leader.election.enable": "false",
            "offsets.topic.replication.factor": "3",
            "transaction.state.log.replication.factor": "3",
            "transaction.state.log.min.isr": "2",
        }
        assert expected == {key: props[key] for key in expected}


class TestPropertiesText:
    """Properties render as one key=value line each, in order."""

    def test_lines(self) -> None:
        assert "a=1\nb.c=x y\n" == properties_text({"a": "1", "b.c": "x y"})


class TestClusterId:
    """Cluster ids look like Kafka's: 22 url-safe base64 characters, never a leading dash."""

    def test_shape(self) -> None:
        ids = [new_cluster_id() for _ in range(200)]
        assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", i) for i in ids)
        assert len(ids) == len(set(ids))


class TestJavaVersion:
    """The major Java version is read from both old and new `java -version` formats."""

    @pytest.mark.parametrize(
        ("output", "expected"),
        [
            ('openjdk version "17.0.15" 2025-04-15', 17),
            ('openjdk version "21" 2023-09-19', 21),
            ('java version "1.8.0_402"', 8),
            ("no java here", None),
        ],
    )
    def test_parse(self, output: str, expected: int | None) -> None:
        assert expected == parse_java_major(output)


class TestMissingTools:
    """Without Java or Maven, the user is told in one sentence what to install."""

    def test_no_java(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("PATH", str(tmp_path))
        monkeypatch.delenv("JAVA_HOME", raising=False)
        with pytest.raises(ToolMissing, match="Java 17 or newer"):
            find_java()

    def test_no_maven_and_no_cached_jars(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("PATH", str(tmp_path))
        with pytest.raises(ToolMissing, match="Maven"):
            ensure_jars("4.0.1", tmp_path / "cache")

    def test_cli_exits_2_without_java(self, tmp_path: Path) -> None:
        ketenbus = Path(sys.executable).parent / "ketenbus"
        env = {
            "PATH": str(tmp_path),
            "KETENBUS_HOME": str(tmp_path / "home"),
            "KETENBUS_KAFKA_PORT": "1",  # never reached: Java is checked first
        }
        result = subprocess.run(
            [str(ketenbus), "kafka", "up"], env=env, capture_output=True, text=True, check=False
        )
        assert 2 == result.returncode
        assert "Java 17 or newer" in result.stderr


class TestJarCache:
    """A complete jar cache is used as is: no Maven run on the second `up`."""

    def test_complete_cache_needs_no_maven(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        libs = tmp_path / "kafka-4.0.1" / "libs"
        libs.mkdir(parents=True)
        (tmp_path / "kafka-4.0.1" / ".complete").write_text(pom_digest(KAFKA_POM, "4.0.1"))
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # mvn would be ToolMissing
        assert libs == ensure_jars("4.0.1", tmp_path)

    def test_cache_for_another_pom_is_fetched_again(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        libs = tmp_path / "kafka-4.0.1" / "libs"
        libs.mkdir(parents=True)
        (tmp_path / "kafka-4.0.1" / ".complete").write_text("digest-of-an-older-pom")
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
        with pytest.raises(ToolMissing):
            ensure_jars("4.0.1", tmp_path)
