"""The bus enforces need-to-know: every agency principal against every kind of topic, on the
real secured broker with the ACLs of topics.yaml applied.

Principals: two municipalities (Rotterdam, listed in topics.yaml, and one issued on demand
by `credentials issue`), nla, politie, nau. Topics: each of their events and notifications
topics, `cases.events`, `deadletter` and the correlator's internal inbox. Operations:
produce, consume, describe, create, delete and alter (commit) a consumer group's offsets.
An agency may write its own events topic and read its own notifications topic with a group
named after its principal; every other operation must fail with an authorization error.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from ketenbus.agencies import (
    CASES_TOPIC,
    DEADLETTER_TOPIC,
    notification_topic,
    principal_of,
    source_topic,
)
from ketenbus.kafka_clients import client_config
from ketenbus.security.acls import acl_drift, sync_acls
from ketenbus.security.issue import issue_credentials
from ketenbus.settings import get_settings
from ketenbus.topics.acl import Acl, apply_acls
from ketenbus.topics.admin import load_topics, make_admin

pytestmark = pytest.mark.broker

ALLOWED = "allowed"
DENIED = "denied"
AUTHZ = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
}
TIMEOUT_S = 20.0
OPERATIONS = ("produce", "consume", "describe", "create", "delete", "alter_group")


def _fresh_municipality() -> str:
    """A municipality without topics yet: it gets its principal on demand."""
    topics = make_admin().list_topics(timeout=30).topics
    while True:
        code = f"gemeente:{random.randint(9000, 9999)}"
        if source_topic(code) not in topics:
            return code


#: the agencies of the matrix; the second municipality is chosen when the module runs
AGENCIES = ["gemeente:0599", "gemeente:on-demand", "nla", "politie", "nau"]


@pytest.fixture(scope="module")
def agencies(bootstrap_servers: str) -> list[str]:
    """The five agencies, with the on-demand municipality's credentials and ACLs issued."""
    admin = make_admin()
    sync_acls(admin, load_topics(get_settings().topics_file))
    on_demand = _fresh_municipality()
    issue_credentials(on_demand)
    inbox = f"{get_settings().correlator_app_id}-dwelling-inbox"
    if inbox not in admin.list_topics(timeout=30).topics:
        admin.create_topics([NewTopic(inbox, 1, 1)])[inbox].result(TIMEOUT_S)
    return [on_demand if a == "gemeente:on-demand" else a for a in AGENCIES]


def _topics(agencies: list[str]) -> list[str]:
    inbox = f"{get_settings().correlator_app_id}-dwelling-inbox"
    per_agency = [t for a in agencies for t in (source_topic(a), notification_topic(a))]
    return [*per_agency, CASES_TOPIC, DEADLETTER_TOPIC, inbox]


def expected(agency: str, topic: str, operation: str) -> str:
    """The contract: write your own events, read your own notifications; nothing else."""
    if topic == source_topic(agency) and operation in {"produce", "describe"}:
        return ALLOWED
    if topic == notification_topic(agency) and operation in {"consume", "describe", "alter_group"}:
        return ALLOWED
    return DENIED


def _outcome(error: KafkaError | None, what: str) -> str:
    if error is None:
        return ALLOWED
    if error.code() in AUTHZ:
        return DENIED
    raise AssertionError(f"{what}: neither allowed nor refused for authorization: {error}")


def _future(future: Any, what: str, *, ok: frozenset[int] = frozenset()) -> str:
    try:
        result = future.result(TIMEOUT_S)
    except KafkaException as exc:
        error: KafkaError = exc.args[0]
        return ALLOWED if error.code() in ok else _outcome(error, what)
    # alter_consumer_group_offsets reports per partition
    partitions = getattr(result, "topic_partitions", None) or []
    errors = [tp.error for tp in partitions if tp.error is not None]
    return _outcome(errors[0] if errors else None, what)


class Probe:
    """The six operations, each tried as one principal on one topic."""

    def __init__(self, principal: str) -> None:
        self.principal = principal
        self.admin = AdminClient(client_config(principal=principal))
        self.producer = Producer(
            client_config(principal=principal, message_timeout_ms=int(TIMEOUT_S * 1000))
        )

    def produce(self, topic: str) -> str:
        reports: list[KafkaError | None] = []
        try:
            self.producer.produce(
                topic, value=b"acl-matrix-probe", on_delivery=lambda err, _: reports.append(err)
            )
        except KafkaException as exc:  # refused at once: the producer knows the topic already
            return _outcome(exc.args[0], f"produce {topic}")
        self.producer.flush(TIMEOUT_S)
        assert 1 == len(reports), f"no delivery report for {topic}"
        return _outcome(reports[0], f"produce {topic}")

    def consume(self, topic: str) -> str:
        consumer = Consumer(
            client_config(
                principal=self.principal,
                # a group of its own (prefixed by its principal): the topic is what is tested
                group_id=f"{self.principal}-matrix-{uuid.uuid4().hex[:6]}",
                enable_auto_commit=False,
                enable_partition_eof=True,
                auto_offset_reset="earliest",
            )
        )
        try:
            consumer.subscribe([topic])
            for _ in range(int(TIMEOUT_S)):
                message = consumer.poll(1.0)
                if message is None:
                    continue
                error = message.error()
                if error is None or error.code() == KafkaError._PARTITION_EOF:
                    return ALLOWED
                return _outcome(error, f"consume {topic}")
            raise AssertionError(f"consume {topic}: no record, end or error in {TIMEOUT_S} s")
        finally:
            consumer.close()

    def describe(self, topic: str) -> str:
        future = self.admin.describe_topics(TopicCollection([topic]))[topic]
        return _future(future, f"describe {topic}")

    def create(self, topic: str) -> str:
        # validate_only: an authorised create of an existing topic answers "already exists"
        futures = self.admin.create_topics([NewTopic(topic, 1, 1)], validate_only=True)
        ok = frozenset({KafkaError.TOPIC_ALREADY_EXISTS})
        return _future(futures[topic], f"create {topic}", ok=ok)

    def delete(self, topic: str) -> str:
        return _future(self.admin.delete_topics([topic])[topic], f"delete {topic}")

    def alter_group(self, topic: str, group: str | None = None) -> str:
        group = group or f"{self.principal}-matrix-{uuid.uuid4().hex[:6]}"
        request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 0)])
        future = self.admin.alter_consumer_group_offsets([request])[group]
        return _future(future, f"alter group {group} on {topic}")

    def close(self) -> None:
        self.producer.flush(1)


@pytest.fixture(scope="module")
def probes(agencies: list[str]) -> Iterator[Callable[[str], Probe]]:
    made: dict[str, Probe] = {}

    def probe(agency: str) -> Probe:
        if agency not in made:
            made[agency] = Probe(principal_of(agency))
        return made[agency]

    yield probe
    for each in made.values():
        each.close()


class TestAclMatrix:
    """Every agency principal x topic kind x operation: only its own events are written and
    only its own notifications read; everything else is refused for authorization."""

    @pytest.mark.parametrize("operation", OPERATIONS)
    @pytest.mark.parametrize("agency_index", range(len(AGENCIES)), ids=AGENCIES)
    def test_matrix(
        self,
        agencies: list[str],
        probes: Callable[[str], Probe],
        agency_index: int,
        operation: str,
    ) -> None:
        agency = agencies[agency_index]
        probe = probes(agency)
        topics = _topics(agencies)
        want = {topic: expected(agency, topic, operation) for topic in topics}
        actual = {topic: getattr(probe, operation)(topic) for topic in topics}
        assert want == actual


def matrix_counts() -> tuple[int, int]:
    """(allowed, denied) checks of the matrix, for the figures in docs/security.md."""
    agencies = ["gemeente:0599", "gemeente:9999", "nla", "politie", "nau"]
    outcomes = [
        expected(a, t, op) for a in agencies for t in _topics(agencies) for op in OPERATIONS
    ]
    return outcomes.count(ALLOWED), outcomes.count(DENIED)


class TestMatrixSize:
    """5 agencies x 13 topics x 6 operations: 25 allowed, 365 denied."""

    def test_counts(self) -> None:
        assert (25, 365) == matrix_counts()


class TestNeedToKnow:
    """nla's credentials cannot read the police's notifications, write the police's events,
    read the case log, or use a consumer group that is not named after nla."""

    def test_nla(self, agencies: list[str], probes: Callable[[str], Probe]) -> None:
        nla = probes("nla")
        assert (DENIED, DENIED, DENIED, DENIED) == (
            nla.consume(notification_topic("politie")),
            nla.produce(source_topic("politie")),
            nla.consume(CASES_TOPIC),
            nla.alter_group(notification_topic("nla"), group="politie-feed"),
        )

    @pytest.mark.parametrize(
        ("args", "reason"),
        [
            (["--agency", "politie"], "may not read notifications.politie"),
            (["--agency", "nla", "--group", "feed"], "may not use consumer group feed"),
        ],
    )
    def test_subscribe_as_nla(self, agencies: list[str], args: list[str], reason: str) -> None:
        env = {**os.environ, "KETENBUS_KAFKA_PRINCIPAL": "nla"}
        done = subprocess.run(
            [sys.executable, "-m", "ketenbus", "subscribe", *args, "--idle-exit", "5"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (4, True) == (done.returncode, reason in done.stderr)


def _refused(config: dict[str, Any]) -> list[int]:
    """Error codes a client with `config` meets asking for metadata (empty: it got in)."""
    errors: list[int] = []
    admin = AdminClient({**config, "error_cb": lambda e: errors.append(e.code()), "log_level": 0})
    try:
        admin.list_topics(timeout=8)
    except KafkaException as exc:
        errors.append(exc.args[0].code())
    admin.poll(1)  # serves the error callbacks (the reason, e.g. _AUTHENTICATION)
    return errors


class TestAuthentication:
    """Plaintext, anonymous TLS and wrong passwords are refused; a rotated secret dies."""

    def test_plaintext_refused(self, bootstrap_servers: str) -> None:
        assert [] != _refused({"bootstrap.servers": bootstrap_servers})

    def test_tls_without_sasl_refused(self, bootstrap_servers: str) -> None:
        ca = client_config()["ssl.ca.location"]
        config = {
            "bootstrap.servers": bootstrap_servers,
            "security.protocol": "SSL",
            "ssl.ca.location": ca,
        }
        assert [] != _refused(config)

    def test_wrong_password_refused(self, bootstrap_servers: str) -> None:
        config = client_config(principal="nla", extra={"sasl.password": "not-the-password"})
        assert KafkaError._AUTHENTICATION in _refused(config)

    def test_rotation_kills_the_old_secret(self, agencies: list[str]) -> None:
        agency = agencies[1]  # the on-demand municipality: rotating it disturbs nobody
        old = client_config(principal=principal_of(agency))
        assert [] == _refused(old)
        issue_credentials(agency, rotate=True)
        new = client_config(principal=principal_of(agency))
        assert old["sasl.password"] != new["sasl.password"]
        assert KafkaError._AUTHENTICATION in _refused(old)
        assert [] == _refused(new)


class TestAclDrift:
    """A hand-made grant is drift: `topics check` reports it and `topics apply` removes it."""

    def test_hand_made_acl(self, agencies: list[str]) -> None:
        admin = make_admin()
        spec = load_topics(get_settings().topics_file)
        stray = Acl("User:mallory", "TOPIC", "LITERAL", CASES_TOPIC, "READ")
        apply_acls(admin, [stray])
        before = acl_drift(admin, spec)
        sync_acls(admin, spec)
        after = acl_drift(admin, spec)
        assert ([], [stray], True) == (before.missing, before.unexpected, after.clean)
