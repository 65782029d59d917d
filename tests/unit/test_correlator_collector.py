"""The worker's garbage collector: start-up frozen out, collections less often."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from correlator.collector import GC_THRESHOLDS, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
class TestTuneGc:
    """A worker collects with its own thresholds and leaves start-up objects out of it."""

    def test_thresholds_and_freeze(self) -> None:
        gc.unfreeze()
        tune_gc()
        assert (GC_THRESHOLDS, True) == (gc.get_threshold(), gc.get_freeze_count() > 0)

    def test_cycles_still_collected(self) -> None:
        tune_gc()
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert 0 < gc.collect()
