"""The live cache keeps as many aggregates per inbox as KETENBUS_CORRELATOR_LIVE_AGGREGATES says."""

from __future__ import annotations

import pytest

from correlator.live_cache import LiveCache, live_caches
from ketenbus.settings import Settings


def filled(cache: LiveCache, keys: list[str]) -> dict[str, object]:
    """Store one aggregate per key (each with its own state object); the states by key."""
    states: dict[str, object] = {}
    for key in keys:
        states[key] = object()
        cache.put(key, states[key], f"aggregate {key}")
    cache.trim()
    return states


class TestLimitFromSettings:
    """Each inbox's cache is bounded by the setting, read from the environment."""

    def test_environment_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("KETENBUS_CORRELATOR_LIVE_AGGREGATES", "3")
        caches = live_caches(Settings(), ("dwelling", "organisation"))
        for cache in caches.values():
            filled(cache, [f"k{n}" for n in range(10)])
        assert {"dwelling": 3, "organisation": 3} == {
            inbox: len(cache) for inbox, cache in caches.items()
        }

    def test_default(self) -> None:
        assert 20_000 == Settings().correlator_live_aggregates

    def test_negative_refused(self) -> None:
        with pytest.raises(ValueError, match="greater than or equal to 0"):
            Settings(correlator_live_aggregates=-1)


class TestLeastRecentlyUsedDropped:
    """Beyond the limit the least recently used aggregates go; a hit makes one recent."""

    def test_oldest_dropped(self) -> None:
        cache = LiveCache(2)
        filled(cache, ["a", "b", "c"])
        assert [False, True, True] == [key in cache for key in ("a", "b", "c")]

    def test_hit_keeps_it(self) -> None:
        cache = LiveCache(2)
        states = filled(cache, ["a", "b"])
        assert "aggregate a" == cache.get("a", states["a"])
        filled(cache, ["c"])
        assert [True, False, True] == [key in cache for key in ("a", "b", "c")]

    def test_zero_keeps_none(self) -> None:
        cache = LiveCache(0)
        states = filled(cache, ["a"])
        assert None is cache.get("a", states["a"])


class TestHitOnlyForTheStoredState:
    """An aggregate counts only while the row holds the very state it was stored with."""

    def test_other_state_misses(self) -> None:
        cache = LiveCache(5)
        filled(cache, ["a"])
        assert None is cache.get("a", object())

    def test_unknown_key_misses(self) -> None:
        assert None is LiveCache(5).get("a", object())
