"""aiokafka's committed-offset refresh survives answers it does not know."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import KafkaError, NodeNotReadyError

from correlator import offset_refresh
from ketenbus.metrics import CORRELATOR_OFFSET_REFRESH_FAILURES


def failures(error: str) -> float:
    return CORRELATOR_OFFSET_REFRESH_FAILURES.labels(error=error)._value.get()


class Flaky:
    """A refresh that fails `times` times with `error`, then succeeds."""

    def __init__(self, error: Exception, times: int = 1) -> None:
        self.error, self.times, self.calls = error, times, 0

    async def __call__(self, coordinator: Any, assignment: Any) -> bool:
        self.calls += 1
        if self.calls <= self.times:
            raise self.error
        return True


class TestRetried:
    """A failed refresh round answers "not done" instead of raising."""

    def test_unknown_error_is_retried_and_counted(self) -> None:
        """A KafkaError aiokafka does not mark retriable (how it reports unknown codes)."""
        before = failures("KafkaError")
        refresh = offset_refresh.retried(Flaky(KafkaError("UnstableOffsetCommitError()")))
        answers = [asyncio.run(refresh(SimpleNamespace(group_id="g"), None)) for _ in range(2)]
        assert ([False, True], 1.0) == (answers, failures("KafkaError") - before)

    def test_retriable_error_is_retried_too(self) -> None:
        """Errors aiokafka retries itself are handled the same way."""
        refresh = offset_refresh.retried(Flaky(NodeNotReadyError("node 1")))
        assert False is asyncio.run(refresh(SimpleNamespace(group_id="g"), None))

    def test_a_bug_is_not_swallowed(self) -> None:
        """Only Kafka errors are retried: anything else still surfaces."""
        refresh = offset_refresh.retried(Flaky(ZeroDivisionError()))
        with pytest.raises(ZeroDivisionError):
            asyncio.run(refresh(SimpleNamespace(group_id="g"), None))


class TestRefreshRoutine:
    """aiokafka's own refresh task keeps running after an unknown answer once installed."""

    def test_routine_asks_again_after_an_unknown_error(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        flaky = Flaky(KafkaError("CoordinatorNotAvailableError()"), times=2)
        assignment = SimpleNamespace(
            active=True, commit_refresh_needed=asyncio.Event(), unassign_future=None
        )

        async def refresh(coordinator: Any, assignment: Any) -> bool:
            done = await flaky(coordinator, assignment)
            assignment.active = False  # the answer came: the assignment ends, so does the task
            assignment.unassign_future.set_result(None)
            return done

        monkeypatch.setattr(GroupCoordinator, "_maybe_refresh_commit_offsets", refresh)
        offset_refresh.install()
        coordinator = SimpleNamespace(
            _retry_backoff_ms=10,
            group_id="g",
            _maybe_refresh_commit_offsets=lambda a: GroupCoordinator._maybe_refresh_commit_offsets(
                coordinator, a
            ),
        )

        async def run() -> None:
            assignment.unassign_future = asyncio.get_running_loop().create_future()
            await GroupCoordinator._commit_refresh_routine(coordinator, assignment)

        asyncio.run(asyncio.wait_for(run(), 10))
        assert 3 == flaky.calls

    def test_install_wraps_once(self) -> None:
        """Installing twice does not wrap the wrapper."""
        offset_refresh.install()
        first = GroupCoordinator._maybe_refresh_commit_offsets
        offset_refresh.install()
        assert first is GroupCoordinator._maybe_refresh_commit_offsets
