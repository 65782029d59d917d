"""Never commit an inbox partition past a record that was not processed.

faust-streaming 0.15.3 commits, per partition, the run of consecutive acknowledged
offsets that starts at the lowest one it holds (`Consumer._new_offset`). Its check that
this run starts where the group's committed offset is has two holes:

- it is off by one: it holds the commit back only when `min(acked) - committed > 1`, but
  `committed` is Kafka's *next* offset to read, so a run starting at `committed + 1`
  jumps over the record at `committed`;
- it is skipped when faust holds no committed offset for the partition: the group never
  committed there, committed 0 (faust stores 0 as None), or the partition was just
  revoked and assigned again (faust pops the offset at every revocation).

A record that faust fetched but never handed to an agent (dropped while the group
rebalances, see `correlator.rebalance`) is then committed over and lost: `wait-idle`
passes, and its case is missing or incomplete. This is the loss the two-worker fault run
showed after the rebalance workaround.

The guard puts the check back. The head of a partition is the group's committed offset
as the broker says it after each rebalance (or the partition's low watermark when the
group has none, or retention deleted the records below it), advanced by faust's own later
commits. A commit whose acknowledged run starts above the head is held back, and the
partition is re-read from the head (paused, then seeked): the records in between are
fetched and folded again; records folded twice converge (rule 8). Until the head of a partition is
known for the current generation, its commits wait. The decision is the pure
`head_gap`; the rest is glue to faust's consumer, read and replaced in this module only.

Rules: docs/correlation.md#rule-8.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import faust
from faust.transport.consumer import Consumer as FaustConsumer

from correlator.diagnostics import assigned_inbox_partitions
from correlator.progress import Partition
from ketenbus.logging import get_logger
from ketenbus.metrics import CORRELATOR_HEAD_REREADS
from ketenbus.settings import Settings

log = get_logger("correlator.commit_guard")

#: A head gap is re-read at most this often per partition (seconds).
REREAD_EVERY_S = 5.0
#: How long a partition is paused before it is seeked back (seconds).
SETTLE_S = 1.0


@dataclass(frozen=True)
class HeadGap:
    """The acknowledged run of a partition starts above its head: `head..lowest-1` were
    never acknowledged."""

    head: int
    lowest: int


def head_gap(
    faust_committed: int | None,
    broker_head: int | None,
    lowest_acked: int,
    covered: Callable[[int, int], bool],
) -> HeadGap | None:
    """Whether a commit starting at `lowest_acked` would jump over unprocessed records.

    `faust_committed`: what faust holds as committed (None: nothing); `broker_head`: the
    head read from the broker for this generation (None: not read yet); `covered(a, b)`:
    whether faust knows `a..b-1` hold no records (its gaps: compaction, markers).
    Without any head the commit cannot be judged and is held back (a gap at 0).
    """
    heads = [h for h in (faust_committed, broker_head) if h is not None]
    if not heads:
        return HeadGap(0, lowest_acked)
    head = max(heads)
    if lowest_acked <= head or covered(head, lowest_acked):
        return None
    return HeadGap(head, lowest_acked)


class CommitGuard:
    """Per inbox partition: its head for the current generation, and re-reads of gaps."""

    def __init__(self, app: faust.App, settings: Settings, inboxes: Iterable[str]) -> None:
        self.app = app
        self.settings = settings
        self.inboxes = frozenset(inboxes)
        self.heads: dict[Partition, int] = {}
        self.generation: int | None = None
        self._rereads: dict[Partition, float] = {}
        self._broker: Any = None
        self._reading: asyncio.Task[None] | None = None

    async def read_heads(self) -> bool:
        """Read, from the broker, the heads of the assigned inbox partitions not known yet
        for this generation; True once every one is known.

        Partition by partition: while a broker is away some partitions have no leader,
        and the others must not wait for them.
        """
        from correlator.health import BrokerOffsets  # one librdkafka client, never joined

        generation = self.app.consumer_generation_id
        if generation != self.generation:
            self.heads, self.generation = {}, generation
        if self._broker is None:
            self._broker = BrokerOffsets(self.settings)
        partitions = assigned_inbox_partitions(self.app, self.inboxes)
        for partition in [p for p in partitions if p not in self.heads]:
            try:
                found = (await asyncio.to_thread(self._broker.read, [partition]))[partition]
            except Exception as exc:  # this partition's commits wait; read again later
                log.warning(
                    "inbox_head_read_failed",
                    partition=f"{partition[0]}/{partition[1]}",
                    error=str(exc),
                    kind=type(exc).__name__,
                )
                continue
            if generation != self.app.consumer_generation_id:
                return False  # another rebalance began meanwhile: its own read follows
            committed = found.committed if found.committed is not None else 0
            self.heads[partition] = max(found.low, committed)
        return all(p in self.heads for p in partitions)

    def refresh_heads(self) -> None:
        """Read the heads in the background (one read at a time) until all are known."""
        if self._reading is None or self._reading.done():
            self._reading = self.app.loop.create_task(self._read_heads_until_known())

    async def _read_heads_until_known(self) -> None:
        generation = self.app.consumer_generation_id
        attempt = 0
        while generation == self.app.consumer_generation_id:
            try:
                if await self.read_heads():
                    log.debug("inbox_heads_read", generation=generation, partitions=len(self.heads))
                    return
            except Exception as exc:  # the client itself failed: commits wait, read again
                log.warning("inbox_heads_read_failed", error=str(exc), kind=type(exc).__name__)
            attempt += 1
            await asyncio.sleep(min(attempt, 5))

    def broker_head(self, partition: Partition) -> int | None:
        if self.generation != self.app.consumer_generation_id:
            return None
        return self.heads.get(partition)

    def reread(self, consumer: Any, tp: Any, gap: HeadGap) -> None:
        """Seek `tp` back to its head, at most every REREAD_EVERY_S seconds."""
        partition = (tp.topic, tp.partition)
        now = time.monotonic()
        if now - self._rereads.get(partition, -REREAD_EVERY_S) < REREAD_EVERY_S:
            return
        self._rereads[partition] = now
        if self.broker_head(partition) is None:
            self.refresh_heads()  # not read for this generation (yet): read it
            if gap.head == 0:
                return  # nothing known to re-read from: the commit waits for the head
        CORRELATOR_HEAD_REREADS.labels(topic=tp.topic).inc()
        log.warning(
            "inbox_head_reread",
            partition=f"{tp.topic}/{tp.partition}",
            head=gap.head,
            lowest_acknowledged=gap.lowest,
        )
        self.app.loop.create_task(self._seek_paused(consumer, tp, gap.head))

    async def _seek_paused(self, consumer: Any, tp: Any, head: int) -> None:
        """Seek `tp` to `head` while faust does not hand out its records.

        faust's drain loop sets its read offset to each record it hands out; a seek in the
        middle of a fetched batch would be overwritten by the rest of that batch, and the
        re-fetched records then skipped as already read. Paused for SETTLE_S first, the
        partition's old records are all handed out before the seek.
        """
        generation = self.app.consumer_generation_id
        consumer.pause_partitions([tp])
        try:
            await asyncio.sleep(SETTLE_S)
            if generation == self.app.consumer_generation_id and tp in consumer.assignment():
                await consumer.seek(tp, head)
        finally:
            if generation == self.app.consumer_generation_id:
                consumer.resume_partitions([tp])

    def close(self) -> None:
        if self._broker is not None:
            self._broker.close()


def _covered(gaps: Any) -> Callable[[int, int], bool]:
    def covered(start: int, end: int) -> bool:
        if end - start > 10_000:  # a long hole is not compaction: re-read it
            return False
        return all(gaps.overlaps(offset) for offset in range(start, end))

    return covered


def install(app: faust.App, settings: Settings, inboxes: Iterable[str]) -> CommitGuard:
    """Guard `app`'s commits on the inbox partitions (once, at import of the app)."""
    guard = CommitGuard(app, settings, inboxes)
    original = FaustConsumer._new_offset

    def _new_offset(consumer: Any, tp: Any) -> int | None:
        acked = consumer._acked[tp]
        if acked and tp.topic in guard.inboxes:
            gap = head_gap(
                consumer._committed_offset[tp],
                guard.broker_head((tp.topic, tp.partition)),
                min(acked),
                _covered(consumer._gap[tp]),
            )
            if gap is not None:
                guard.reread(consumer, tp, gap)
                return None
        result: int | None = original(consumer, tp)
        return result

    FaustConsumer._new_offset = _new_offset  # type: ignore[method-assign,assignment]

    async def _on_rebalanced(sender: Any, /, *args: Any, **kwargs: Any) -> None:
        # in the background: faust awaits this signal before it resumes the partitions
        guard.refresh_heads()

    app.on_rebalance_complete.connect(_on_rebalanced)
    return guard
