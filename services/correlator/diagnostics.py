"""faust's and aiokafka's private view of a worker's partitions, for diagnostics.

There is no public faust API for paused or active partitions, read offsets, pending
acknowledgements or recovery progress; every read of that private state is here, guarded
(AttributeError: an empty answer), so a faust upgrade breaks the `/partitions` page at
worst, never the worker or its health check.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

from correlator.progress import Partition


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
            **_fetch_state(inner),
        }
    except AttributeError:
        pass
    fetcher = getattr(app, "_fetcher", None)
    if fetcher is not None:
        view["fetcher"] = {"state": str(getattr(fetcher, "state", "?"))}
    return view


def _fetch_state(inner: Any) -> dict[str, Any]:
    """aiokafka's fetch state: partitions with no position yet (waiting for their committed
    offset or a reset: the fetcher then skips their whole broker), records prefetched but
    not taken, and whether the task that asks for committed offsets still runs."""
    state: dict[str, Any] = {}
    try:
        assignment = inner._subscription.subscription.assignment
        tps = set(assignment.tps) if assignment is not None else set()
        states = {tp: assignment.state_value(tp) for tp in tps}
        state["without_position"] = _names(t for t, s in states.items() if not s.has_valid_position)
        state["awaiting_reset"] = _names(t for t, s in states.items() if s.awaiting_reset)
    except AttributeError:
        pass
    with contextlib.suppress(AttributeError):
        state["prefetched"] = _names(inner._fetcher._records)
    try:
        task = inner._coordinator._commit_refresh_task
        if task is None:
            state["commit_refresh"] = None
        elif not task.done():
            state["commit_refresh"] = "running"
        elif task.cancelled():
            state["commit_refresh"] = "cancelled"
        else:
            error = task.exception()
            ended = "ended" if error is None else f"failed: {type(error).__name__}"
            state["commit_refresh"] = ended
    except AttributeError:
        pass
    return state


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
