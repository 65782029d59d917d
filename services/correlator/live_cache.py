"""The live cache: aggregates kept loaded per inbox, least recently used dropped first.

Loading an aggregate from its row's JSON state costs as much as its history (every event
it holds, with the views computed again), so a worker keeps the aggregates it stored
itself, each beside the very state object it wrote into the table row: a hit counts only
while the row still holds that object (the memory store hands back what was stored; a
row recovered from the changelog or written by someone else is loaded from its JSON).

It is the biggest part of a worker's memory beyond the table rows (an organisation
profile with its kept views is many times its packed row), so its size is a setting:
`KETENBUS_CORRELATOR_LIVE_AGGREGATES` per inbox (docs/benchmarks.md#memory-100000-cases).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from ketenbus.settings import Settings


class LiveCache:
    """At most `limit` aggregates of one inbox, each with the row state it was stored as."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: OrderedDict[str, tuple[object, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str, state: object) -> Any | None:
        """The aggregate stored with `state` (the very object), else None."""
        hit = self._entries.get(key)
        if hit is None or hit[0] is not state:
            return None
        self._entries.move_to_end(key)
        return hit[1]

    def put(self, key: str, state: object, aggregate: Any) -> None:
        """Keep `aggregate` as stored with row state `state` (most recently used)."""
        if self.limit <= 0:
            return
        self._entries[key] = (state, aggregate)
        self._entries.move_to_end(key)

    def trim(self) -> None:
        """Drop the least recently used entries beyond the limit (once per batch: a batch
        may use more aggregates than the limit, which only costs their reloading)."""
        while len(self._entries) > self.limit:
            self._entries.popitem(last=False)


def live_caches(settings: Settings, inboxes: tuple[str, ...]) -> dict[str, LiveCache]:
    """One cache per inbox, each of `settings.correlator_live_aggregates` aggregates."""
    return {inbox: LiveCache(settings.correlator_live_aggregates) for inbox in inboxes}
