"""A correlator worker started before the broker lets its principal in waits for the ACLs
instead of dying: KRaft applies new ACLs on each broker a moment after `topics apply`
(seconds on a loaded machine), and a worker that died on TOPIC_AUTHORIZATION_FAILED left
the group without members for good."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)
from convergence import RECORDS

from devtools.sandbox import Backbone
from ketenbus.kafka_clients import client_config

pytestmark = [pytest.mark.broker, pytest.mark.timeout(600)]

CORRELATOR = "User:ketenbus-correlator"


def revoke_all(backbone: Backbone, principal: str) -> int:
    """Delete every ACL of `principal`; how many there were."""
    admin = AdminClient(client_config(backbone.client_settings))
    everything = AclBindingFilter(
        ResourceType.ANY,
        None,
        ResourcePatternType.ANY,
        principal,
        None,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    deleted = 0
    for future in admin.delete_acls([everything]).values():
        deleted += len(future.result(30))
    return deleted


class TestWorkerStartedBeforeItsAcls:
    """The worker retries the refused creation of its inboxes and then correlates."""

    def test_waits_for_the_acls(self, tmp_path: Path) -> None:
        backbone = Backbone(tmp_path)
        backbone.broker.start()
        try:
            backbone.cli("topics", "apply")
            revoked = revoke_all(backbone, CORRELATOR)
            backbone.start_correlator()
            time.sleep(5)  # the worker is refused meanwhile
            backbone.cli("topics", "apply")  # gives the correlator its ACLs back
            backbone.publish(RECORDS[:20])
            backbone.wait_idle(180)
            cases = backbone.cases()
            log = (tmp_path / "correlator.log").read_text()
        finally:
            backbone.stop()
        assert (True, True, True) == (
            revoked > 0,
            "internal_topics_refused_retrying" in log,
            len(cases) > 0,
        )
