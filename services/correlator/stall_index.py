"""Which cases of a partition are due to stall: an index by due time (rule 6).

A clock tick must revisit every open case whose stall time has passed. Scanning the
whole table for that makes every tick cost as much as the history of cases; this index
makes it cost the number of cases that are due (plus a logarithm).

It is derived state: built from the table's rows the first time a partition ticks after
the worker (re)gained it, then kept up to date by every row the agents write. Entries
are never removed in place: a popped entry counts only if the row still has that due
time (the row is the truth), so a stale entry costs one pop once the clock passes it.

Rule: docs/correlation.md#rule-6.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable


class PartitionDue:
    """The (due time, key) heap of one inbox partition."""

    def __init__(self, rows: Iterable[tuple[str, int]] = ()) -> None:
        self._heap: list[tuple[int, str]] = [(due, key) for key, due in rows]
        heapq.heapify(self._heap)

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, key: str, due: int) -> None:
        heapq.heappush(self._heap, (due, key))

    def pop_due(self, clock: int, current: Callable[[str], int | None]) -> list[str]:
        """Keys whose due time lies before `clock`, each once, per the rows' `current` due.

        An entry whose row has another due time (or none) is dropped: the row moved on
        and its new due time has an entry of its own.
        """
        found: dict[str, None] = {}  # ordered by due time, each key once
        heap = self._heap
        while heap and heap[0][0] < clock:
            due, key = heapq.heappop(heap)
            if current(key) == due:
                found[key] = None
        return list(found)


class StallIndex:
    """Per (inbox, partition) due-time heaps, built lazily from the table."""

    def __init__(self) -> None:
        self._partitions: dict[tuple[str, int], PartitionDue] = {}

    def forget(self) -> None:
        """Drop everything (partitions were reassigned; tables were recovered)."""
        self._partitions.clear()

    def known(self, inbox: str, partition: int) -> bool:
        return (inbox, partition) in self._partitions

    def build(self, inbox: str, partition: int, rows: Iterable[tuple[str, int]]) -> None:
        self._partitions[(inbox, partition)] = PartitionDue(rows)

    def add(self, inbox: str, partition: int, key: str, due: int | None) -> None:
        """A row was written with due time `due` (None: it cannot stall)."""
        index = self._partitions.get((inbox, partition))
        if index is not None and due is not None:
            index.add(key, due)

    def pop_due(
        self, inbox: str, partition: int, clock: int, current: Callable[[str], int | None]
    ) -> list[str]:
        index = self._partitions.get((inbox, partition))
        return index.pop_due(clock, current) if index is not None else []
