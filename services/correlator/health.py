"""What a correlator worker knows about the inbox partitions it holds, and whether they move.

`PartitionWatch` looks every `interval` seconds at the worker's assigned inbox partitions:
what faust does with them (`faust_view`: paused, active, read offsets, recovery state)
and what the broker says (`BrokerOffsets`: the group's committed offsets, low and end
offsets). A `ProgressTracker` turns the looks into "stalled" partitions: lag and no
committed progress for `settings.correlator_stall_seconds`. The worker's `/healthz` then
answers 503 with them, so its keeper (or Kubernetes' liveness probe) restarts it, and
`/partitions` shows the whole picture for a person debugging one.

faust's private state is read in `correlator.diagnostics` only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import faust

from correlator.diagnostics import (
    assigned_inbox_partitions,
    faust_view,
    reassigning,
    recovery_position,
    task_stacks,
)
from correlator.progress import Offsets, Partition, ProgressTracker, Stalled
from ketenbus.logging import get_logger
from ketenbus.metrics import CORRELATOR_STALLED_PARTITIONS
from ketenbus.offsets import GroupOffsets
from ketenbus.settings import Settings

log = get_logger("correlator.health")


class BrokerOffsets(GroupOffsets):
    """The faust app group's committed offsets and the partitions' low/end offsets, from
    the broker, through a client that never joins (see `ketenbus.offsets`), so it sees
    what the broker holds whatever state faust's own consumer is in."""

    def __init__(self, settings: Settings, timeout: float = 10.0) -> None:
        super().__init__(settings, settings.correlator_app_id, timeout)


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
