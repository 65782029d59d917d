"""Unit tests of the subscriptions file and the delivery journal of the webhook bridge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ketenbus.settings import PROJECT_ROOT
from operations.webhook.errors import SecretMissing, SubscriptionsInvalid, UnknownSubscription
from operations.webhook.journal import DELIVERED, FILTERED, RETRYING, Journal
from operations.webhook.subscriptions import (
    find_subscription,
    load_subscriptions,
    parse_subscriptions,
)


def entry(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "rdam",
        "agency": "gemeente:0599",
        "callback_url": "https://example.invalid/hook",
        "secret": "x",
    }
    base.update(overrides)
    return base


class TestSubscriptions:
    """Subscriptions validate strictly and name their consumer group."""

    def test_defaults(self) -> None:
        [sub] = parse_subscriptions({"subscriptions": [entry()]})
        assert ("cloudevents", "ketenbus-webhook-rdam", True) == (
            sub.format,
            sub.group_id,
            sub.enabled,
        )

    @pytest.mark.parametrize(
        ("overrides", "problem"),
        [
            ({"agency": "gemeente:59"}, "invalid agency"),
            ({"callback_url": "ftp://x"}, "http"),
            ({"format": "xml"}, "format"),
            ({"filters": {"colour": ["red"]}}, "unknown filter"),
            ({"secret_env": "X"}, "exactly one"),
            ({"secret": None}, "exactly one"),
            ({"id": "Bad Id"}, "id"),
            ({"extra": 1}, "extra"),
        ],
    )
    def test_invalid(self, overrides: dict[str, Any], problem: str) -> None:
        with pytest.raises(SubscriptionsInvalid, match=problem):
            parse_subscriptions({"subscriptions": [entry(**overrides)]})

    def test_duplicate_ids(self) -> None:
        with pytest.raises(SubscriptionsInvalid, match="duplicate"):
            parse_subscriptions({"subscriptions": [entry(), entry()]})

    def test_secret_from_environment(self) -> None:
        [sub] = parse_subscriptions({"subscriptions": [entry(secret=None, secret_env="K")]})
        assert b"v" == sub.signing_secret({"K": "v"})

    def test_secret_env_unset(self) -> None:
        [sub] = parse_subscriptions({"subscriptions": [entry(secret=None, secret_env="K")]})
        with pytest.raises(SecretMissing):
            sub.signing_secret({})

    def test_unknown_id(self) -> None:
        with pytest.raises(UnknownSubscription, match="rdam"):
            find_subscription(parse_subscriptions({"subscriptions": [entry()]}), "other")

    def test_bundled_example_file_is_valid_and_disabled(self) -> None:
        subs = load_subscriptions(PROJECT_ROOT / "deploy" / "webhook" / "subscriptions.yaml")
        assert [False] * len(subs) == [s.enabled for s in subs]

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(SubscriptionsInvalid):
            load_subscriptions(tmp_path / "absent.yaml")


class TestJournal:
    """The journal counts notifications (not attempts) and settles redelivered dead letters."""

    def test_summary(self, tmp_path: Path) -> None:
        journal = Journal(tmp_path, "s")
        for nid, outcome in [
            ("n1", RETRYING),
            ("n1", DELIVERED),
            ("n2", RETRYING),
            ("n3", FILTERED),
            ("n1", DELIVERED),  # a redelivery after a restart: still one notification
        ]:
            journal.attempt(notification_id=nid, case_id="c", attempt=1, outcome=outcome)
        summary = journal.summary()
        assert (1, 1, ["n2"]) == (summary.delivered, summary.filtered, summary.retrying_ids)

    def test_dead_letters_settled_by_redelivery(self, tmp_path: Path) -> None:
        journal = Journal(tmp_path, "s")
        for nid in ("n1", "n2"):
            journal.dead(
                {"notification_id": nid, "case_id": "c"}, attempts=5, last_error="HTTP 500"
            )
        journal.redelivered("n1")
        assert ["n2"] == [d.notification_id for d in journal.dead_letters()]

    def test_torn_line_is_skipped(self, tmp_path: Path) -> None:
        journal = Journal(tmp_path, "s")
        journal.dead({"notification_id": "n1", "case_id": "c"}, attempts=1, last_error="e")
        with journal.dead_path.open("a") as out:
            out.write('{"event": "dea')
        assert ["n1"] == [d.notification_id for d in journal.dead_letters()]
