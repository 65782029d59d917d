"""Is the webhook bridge working? One answer for `/healthz` (pure: no I/O).

Each subscription's bridge thread notes the time of every consumer poll (a loop turn:
records, heartbeats and rebalances are all served by polls, also while it backs off
between delivery attempts). The bridge is healthy while every thread is alive and every
subscription polled within `stale_after_s`; a subscription whose consumer keeps failing
(broker unreachable, topic creation refused) stops polling and turns the bridge unhealthy,
so its keeper (or Kubernetes' liveness probe) restarts it. No subscriptions: healthy,
nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SubscriptionBeat:
    """One subscription's bridge as `/healthz` sees it."""

    subscription: str
    alive: bool  # its thread runs
    last_poll: float | None  # monotonic time of its latest poll (None: none yet)
    started: float  # monotonic time its thread started


def judge(beats: list[SubscriptionBeat], now: float, stale_after_s: float) -> dict[str, object]:
    """The `/healthz` document: `ok` and, per subscription, why (not)."""
    subscriptions: dict[str, dict[str, object]] = {}
    for beat in beats:
        since = now - (beat.last_poll if beat.last_poll is not None else beat.started)
        fresh = since <= stale_after_s
        subscriptions[beat.subscription] = {
            "ok": beat.alive and fresh,
            "alive": beat.alive,
            "polled_s_ago": None if beat.last_poll is None else round(now - beat.last_poll, 1),
        }
    ok = all(entry["ok"] for entry in subscriptions.values())
    return {"ok": ok, "subscriptions": subscriptions}
