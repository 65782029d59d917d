"""The bridge is healthy while every subscription's thread lives and its consumer polls."""

from __future__ import annotations

from operations.webhook.health import SubscriptionBeat, judge


class TestJudge:
    """/healthz: ok only when every subscription is alive and polled within the bound."""

    def test_all_polling(self) -> None:
        beats = [SubscriptionBeat("a", True, 99.0, 0.0), SubscriptionBeat("b", True, 95.0, 0.0)]
        document = judge(beats, now=100.0, stale_after_s=60)
        assert (True, {"a": 1.0, "b": 5.0}) == (
            document["ok"],
            {k: v["polled_s_ago"] for k, v in document["subscriptions"].items()},  # type: ignore[attr-defined]
        )

    def test_a_stale_subscription_is_unhealthy(self) -> None:
        beats = [SubscriptionBeat("a", True, 99.0, 0.0), SubscriptionBeat("b", True, 30.0, 0.0)]
        document = judge(beats, now=100.0, stale_after_s=60)
        assert (False, {"a": True, "b": False}) == (
            document["ok"],
            {k: v["ok"] for k, v in document["subscriptions"].items()},  # type: ignore[attr-defined]
        )

    def test_a_dead_thread_is_unhealthy(self) -> None:
        document = judge([SubscriptionBeat("a", False, 99.0, 0.0)], now=100.0, stale_after_s=60)
        assert False is document["ok"]

    def test_not_polled_yet_counts_from_the_start(self) -> None:
        starting = [SubscriptionBeat("a", True, None, 90.0)]
        never = [SubscriptionBeat("a", True, None, 0.0)]
        assert (True, False) == (
            judge(starting, now=100.0, stale_after_s=60)["ok"],
            judge(never, now=100.0, stale_after_s=60)["ok"],
        )

    def test_no_subscriptions_is_healthy(self) -> None:
        assert {"ok": True, "subscriptions": {}} == judge([], now=1.0, stale_after_s=60)
