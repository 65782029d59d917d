"""What a correlator worker knows about the inbox partitions it holds, and whether they move.

`PartitionWatch` looks every `interval` seconds at the worker's assigned inbox partitions:
what faust does with them (`faust_view`: paused, active, read offsets, recovery state)
and what the broker says (`BrokerOffsets`: the group's committed offsets, low and end
offsets). A `ProgressTracker` turns the looks into "stalled" partitions: lag and no
committed progress for `settings.correlator_stall_seconds`. The worker's `/healthz` then
answers 503 with them, so its keeper (or Kubernetes' liveness probe) restarts it, and
`/partitions` shows the whole picture for a person debugging one.

This module reads faust's and aiokafka's private state (there is no public API for
paused partitions); every such read is here, guarded, so a faust upgrade breaks only the
diagnostics page, never the worker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import faust
from confluent_kafka import Consumer, TopicPartition

from correlator.progress import Offsets, Partition, ProgressTracker, Stalled
from ketenbus.kafka_clients import client_config
from ketenbus.logging import get_logger
from ketenbus.metrics import CORRELATOR_STALLED_PARTITIONS
from ketenbus.settings import Settings

log = get_logger("correlator.health")


def _tp(tp: Any) -> Partition:
    return (str(tp.topic), int(tp.partition))


def _names(tps: Iterable[Any]) -> list[str]:
    return sorted(f"{topic}/{partition}" for topic, partition in map(_tp, tps))


def assigned_inbox_partitions(app: Any, inboxes: Iterable[str]) -> list[Partition]:
    """The inbox partitions faust's consumer holds now (none before it started)."""
    consumer = getattr(app, "_consumer", None)
    if consumer is None:
        return []
    try:
        assignment = consumer.assignment()
    except Exception:  # ConsumerNotStarted: not joined yet
        return []
    topics = set(inboxes)
    return sorted(p for p in map(_tp, assignment) if p[0] in topics)


def reassigning(app: Any) -> bool:
    """Whether the group is between JoinGroup and its new assignment (aiokafka's view)."""
    try:
        return bool(app._consumer._thread._consumer._subscription.reassignment_in_progress)
    except AttributeError:
        return False


def recovery_position(app: Any) -> int:
    """Sum of the changelog offsets table recovery has reached: it moves while recovering."""
    try:
        recovery = app.tables.recovery
        return int(sum(v for v in recovery.active_offsets.values() if v is not None))
    except AttributeError:
        return 0


def faust_view(app: Any, inboxes: Iterable[str]) -> dict[str, Any]:
    """faust's own state of the worker's partitions (for `/partitions`)."""
    view: dict[str, Any] = {"rebalancing": bool(getattr(app, "rebalancing", False))}
    consumer = getattr(app, "_consumer", None)
    if consumer is None:
        return {**view, "consumer": None}
    try:
        assignment = set(consumer.assignment())
    except Exception:
        assignment = set()
    topics = set(inboxes)
    streams = {tp for tp in assignment if tp.topic in topics}
    read = getattr(consumer, "_read_offset", {})
    committed = getattr(consumer, "_committed_offset", {})
    view.update(
        generation=getattr(app, "consumer_generation_id", None),
        reassigning=reassigning(app),
        in_recovery=bool(getattr(app, "in_recovery", False)),
        flow_active=bool(getattr(consumer, "flow_active", False)),
        flow_control_active=_flow_control_active(app),
        assigned=_names(streams),
        changelogs_assigned=_names(assignment - streams),
        paused=_names(set(getattr(consumer, "_paused_partitions", ())) & assignment),
        active=_names(set(getattr(consumer, "_active_partitions", None) or ()) & streams),
        buffered=_names(set(getattr(consumer, "_buffered_partitions", ())) & streams),
        read_offsets={f"{t}/{p}": read.get(tp) for tp in streams for t, p in [_tp(tp)]},
        committed_locally={f"{t}/{p}": committed.get(tp) for tp in streams for t, p in [_tp(tp)]},
        acks=_acks(consumer, streams),
        agents=_agents(app),
    )
    try:
        recovery = app.tables.recovery
        view["recovery"] = {
            "in_recovery": bool(recovery.in_recovery),
            "completed": bool(recovery.completed.is_set()),
            "active_offsets": {f"{t}/{p}": v for (t, p), v in _items(recovery.active_offsets)},
            "active_highwaters": {
                f"{t}/{p}": v for (t, p), v in _items(recovery.active_highwaters)
            },
        }
    except AttributeError:
        pass
    try:
        inner = consumer._thread._consumer
        view["aiokafka"] = {
            "generation": inner._coordinator.generation,
            "paused": _names(inner.paused()),
        }
    except AttributeError:
        pass
    fetcher = getattr(app, "_fetcher", None)
    if fetcher is not None:
        view["fetcher"] = {"state": str(getattr(fetcher, "state", "?"))}
    return view


def _flow_control_active(app: Any) -> bool | None:
    try:
        return bool(app.flow_control.is_active())
    except AttributeError:
        return None


def _acks(consumer: Any, streams: set[Any]) -> dict[str, Any]:
    """Per partition: acked offsets not committed yet, gaps, messages taken but not acked."""
    acked = getattr(consumer, "_acked", {})
    gaps = getattr(consumer, "_gap", {})
    unacked: dict[Any, list[int]] = {}
    for message in list(getattr(consumer, "_unacked_messages", ())):
        unacked.setdefault(message.tp, []).append(message.offset)
    found: dict[str, Any] = {}
    for tp in streams:
        offsets = sorted(acked.get(tp, ()))
        pending = sorted(unacked.get(tp, ()))
        found["{}/{}".format(*_tp(tp))] = {
            "acked": len(offsets),
            "acked_range": [offsets[0], offsets[-1]] if offsets else None,
            "gaps": [[i.begin, i.end] for i in sorted(gaps.get(tp, ()))][:10],
            "unacked": len(pending),
            "unacked_range": [pending[0], pending[-1]] if pending else None,
        }
    return found


def _agents(app: Any) -> dict[str, Any]:
    """Per agent actor: its stream's queue and the event it is on."""
    found: dict[str, Any] = {}
    try:
        agents = list(app.agents.values())
    except AttributeError:
        return found
    for agent in agents:
        for n, actor in enumerate(getattr(agent, "_actors", ())):
            stream = getattr(actor, "stream", None)
            queue = getattr(getattr(stream, "channel", None), "queue", None)
            event = getattr(stream, "current_event", None)
            message = getattr(event, "message", None)
            found[f"{agent.name}#{n}"] = {
                "queue": queue.qsize() if queue is not None else None,
                "current": None
                if message is None
                else f"{message.topic}/{message.partition}@{message.offset}",
                "done": bool(getattr(actor, "done", lambda: False)())
                if hasattr(actor, "done")
                else None,
            }
    return found


def _task_state(task: asyncio.Task[Any] | None) -> str:
    if task is None:
        return "none"
    if not task.done():
        return "running"
    if task.cancelled():
        return "cancelled"
    return f"failed: {task.exception()!r}" if task.exception() else "finished"


def task_stacks() -> list[str]:
    """Every asyncio task of the loop with its innermost frames (for a stuck worker)."""
    found = []
    for task in asyncio.all_tasks():
        frames = task.get_stack(limit=4)
        where = " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in reversed(frames))
        found.append(f"{task.get_name()}: {where}")
    return sorted(found)


def _items(counter: Any) -> list[tuple[Partition, Any]]:
    return sorted((_tp(tp), value) for tp, value in counter.items())


class BrokerOffsets:
    """The group's committed offsets and the partitions' low/end offsets, from the broker.

    A librdkafka consumer that never joins (OffsetFetch and ListOffsets only), so it sees
    exactly what the lag monitor sees, whatever state faust's own consumer is in.
    """

    def __init__(self, settings: Settings, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._consumer = Consumer(
            client_config(settings, group_id=settings.correlator_app_id, enable_auto_commit=False)
        )

    def read(self, partitions: list[Partition]) -> dict[Partition, Offsets]:
        if not partitions:
            return {}
        committed = self._consumer.committed(
            [TopicPartition(t, p) for t, p in partitions], timeout=self.timeout
        )
        found: dict[Partition, Offsets] = {}
        for tp in committed:
            low, end = self._consumer.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), timeout=self.timeout, cached=False
            )
            offset = tp.offset if tp.offset >= 0 else None
            found[(tp.topic, tp.partition)] = Offsets(offset, low, end)
        return found

    def close(self) -> None:
        self._consumer.close()


class PartitionWatch:
    """Looks at the worker's inbox partitions every `interval` s; knows which stalled."""

    def __init__(self, app: Any, settings: Settings, inboxes: Iterable[str]) -> None:
        self.app = app
        self.settings = settings
        self.inboxes = tuple(inboxes)
        self.tracker = ProgressTracker(settings.correlator_stall_seconds)
        self.interval = max(1.0, min(10.0, settings.correlator_stall_seconds / 6))
        self.offsets: dict[Partition, Offsets] = {}
        self.looked_at: float | None = None
        self._broker: BrokerOffsets | None = None
        self._recovery = 0

    @property
    def enabled(self) -> bool:
        return self.settings.correlator_stall_seconds > 0

    async def run(self) -> None:
        """Look until cancelled; a failed look (broker away) is logged and retried."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.look()
            except Exception as exc:  # keep watching: a look is retried next interval
                log.warning("partition_look_failed", error=str(exc), kind=type(exc).__name__)

    async def look(self) -> None:
        partitions = assigned_inbox_partitions(self.app, self.inboxes)
        recovered = recovery_position(self.app)
        busy = recovered != self._recovery  # table recovery advanced: the worker works
        self._recovery = recovered
        if self._broker is None:
            self._broker = BrokerOffsets(self.settings)
        self.offsets = await asyncio.to_thread(self._broker.read, partitions)
        now = time.monotonic()
        self.tracker.observe(now, self.offsets, busy=busy or reassigning(self.app))
        self.looked_at = now
        stalled = self.stalled()
        CORRELATOR_STALLED_PARTITIONS.set(len(stalled))
        if stalled:
            log.warning(
                "partitions_stalled",
                partitions=[f"{s.topic}/{s.partition}" for s in stalled],
                lag=sum(s.lag for s in stalled),
                faust=faust_view(self.app, self.inboxes),
            )

    def stalled(self) -> list[Stalled]:
        if not self.enabled or self.looked_at is None:
            return []
        return self.tracker.stalled(time.monotonic())

    def report(self) -> dict[str, Any]:
        """Everything `/partitions` shows."""
        now = time.monotonic()
        progress = self.tracker.last_progress(now)
        return {
            "stall_seconds": self.settings.correlator_stall_seconds,
            "looked_s_ago": None if self.looked_at is None else round(now - self.looked_at, 1),
            "stalled": [s.as_json() for s in self.stalled()],
            "partitions": {
                f"{t}/{p}": {
                    "committed": o.committed,
                    "end": o.end,
                    "lag": o.lag,
                    "since_progress_s": round(progress.get((t, p), 0.0), 1),
                }
                for (t, p), o in sorted(self.offsets.items())
            },
            "faust": faust_view(self.app, self.inboxes),
        }

    def close(self) -> None:
        if self._broker is not None:
            self._broker.close()


def install(app: faust.App, settings: Settings, inboxes: Iterable[str]) -> PartitionWatch:
    """Watch `app`'s inbox partitions while it runs; serve the report at `/partitions`."""
    watch = PartitionWatch(app, settings, inboxes)

    class PartitionWatchService(faust.Service):
        async def on_start(self) -> None:
            if watch.enabled:
                self.add_future(watch.run())

        async def on_stop(self) -> None:
            await asyncio.to_thread(watch.close)

    app.service(PartitionWatchService)

    @app.page("/partitions")
    async def partitions(web: Any, request: Any) -> Any:
        report = watch.report()
        if "tasks" in request.query:
            report["tasks"] = task_stacks()
        return web.json(report)

    return watch
