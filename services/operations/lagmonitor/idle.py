"""Wait until every consumer group caught up: what scripts, tests and the demo block on.

A stream processor commits its input before its output lands in the next topic, so one
poll with zero lag proves little: idle must hold over `confirmations` consecutive polls.
Which groups count: every group that has members, plus the correlator's groups always
(its ingest group and its faust app's group: their required topics count even before
they committed on them, and when they do not run at all while those topics hold data,
that is not idle). Other groups without members are left alone by default (their lag
can never shrink); name them with `groups` to wait for them anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from operations.lagmonitor.collector import LagCollector
from operations.lagmonitor.errors import LagMonitorError
from operations.lagmonitor.model import ClusterSample, GroupSample

#: After this long without a correlator member, say so (it may merely be starting).
CORRELATOR_HINT_AFTER = 3.0


@dataclass(frozen=True)
class IdleCheck:
    """One poll's verdict: which counted groups still lag."""

    lagging: tuple[GroupSample, ...]
    #: required groups (the correlator's) with no members while they have lag
    missing: tuple[str, ...] = ()

    @property
    def idle(self) -> bool:
        return not self.lagging

    @property
    def correlator_missing(self) -> bool:
        return bool(self.missing)

    def describe(self) -> str:
        """`group: lag (topic/partition: lag, ...)` per lagging group, for stderr."""
        return "; ".join(_describe_group(g) for g in self.lagging) or "no lag"


def check_idle(
    sample: ClusterSample,
    *,
    correlator_group: str,
    required_groups: Collection[str] = (),
    groups: Collection[str] | None = None,
    include_empty: bool = False,
) -> IdleCheck:
    """Which groups of the sample keep it from being idle (pure).

    Counted: the named `groups` if given; else every group with members, every required
    group (the correlator's: `correlator_group` and `required_groups`) and, with
    `include_empty`, groups without members too.
    """
    required = {correlator_group, *required_groups}
    counted = [
        g
        for g in sample.groups
        if (groups is not None and g.group in groups)
        or (groups is None and (g.members > 0 or g.group in required or include_empty))
    ]
    lagging = tuple(g for g in counted if g.lag > 0)
    missing = tuple(g.group for g in lagging if g.group in required and g.members == 0)
    return IdleCheck(lagging=lagging, missing=missing)


@dataclass(frozen=True)
class IdleOutcome:
    idle: bool
    last: IdleCheck | None  # None when the cluster never answered
    waited: float


def wait_until_idle(
    collector: LagCollector,
    *,
    correlator_group: str,
    timeout: float = 120.0,
    groups: Collection[str] | None = None,
    include_empty: bool = False,
    poll_interval: float = 0.5,
    confirmations: int = 3,
    progress: Callable[[str], None] = lambda _line: None,
    progress_every: float = 5.0,
) -> IdleOutcome:
    """Poll until `confirmations` consecutive polls see no lag, or `timeout` passes."""
    started = time.monotonic()
    deadline = started + timeout
    idle_polls = 0
    last: IdleCheck | None = None
    missing_since: float | None = None
    hinted = False
    next_progress = started + progress_every
    while True:
        now = time.monotonic()
        try:
            last = check_idle(
                collector.sample(groups),
                correlator_group=correlator_group,
                required_groups=collector.required_groups,
                groups=groups,
                include_empty=include_empty,
            )
        except LagMonitorError as exc:
            progress(f"cluster not answering: {exc}")
            last, idle_polls = None, 0
        else:
            idle_polls = idle_polls + 1 if last.idle else 0
            if idle_polls >= confirmations:
                return IdleOutcome(True, last, time.monotonic() - started)
            if last.correlator_missing:
                missing_since = now if missing_since is None else missing_since
                if not hinted and now - missing_since >= CORRELATOR_HINT_AFTER:
                    names = ", ".join(repr(g) for g in last.missing)
                    progress(f"correlator group {names} has no members: is `ketenbus up` running?")
                    hinted = True
            else:
                missing_since = None
            if now >= next_progress and not last.idle:
                progress(f"waiting ({now - started:.0f}s): {last.describe()}")
                next_progress = now + progress_every
        if time.monotonic() + poll_interval > deadline:
            return IdleOutcome(False, last, time.monotonic() - started)
        time.sleep(poll_interval)


def _describe_group(group: GroupSample) -> str:
    parts = ", ".join(f"{p.topic}/{p.partition}: {p.lag}" for p in group.partitions if p.lag > 0)
    who = "" if group.members else ", no members"
    return f"{group.group}: lag {group.lag}{who} ({parts})"
