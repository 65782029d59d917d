"""The worker's cyclic garbage collector, tuned for a large heap that lives long.

A worker keeps every aggregate it stored in the live cache (tens of thousands of frozen
dataclasses, tuples and dicts, a few hundred thousand objects per 5,000 cases), and each
message builds a new state of its aggregate that lives until the batch is committed.
With CPython's default thresholds (700, 10, 10) those batch-lived objects reached the
oldest generation, and a full collection, which walks the whole heap, ran every few
hundred events: measured on `bench correlate --events 20000`, 25 full collections of
0.6 s each, ~20% of the worker's CPU, finding 84 objects of garbage in all; and the
heap, so the cost per event, grows with the cases held (docs/benchmarks.md#session-4).
Reference counting frees nearly everything; the collector is only for the rare cycle.
"""

from __future__ import annotations

import gc

#: (gen0, gen1, gen2) thresholds of a worker: the young generations are collected every
#: 10,000 net allocations (cycles still go), a full collection only after 50 x 100 young
#: collections (its ~25% growth rule applies on top).
GC_THRESHOLDS = (10_000, 50, 100)


def tune_gc() -> None:
    """Freeze what start-up built (modules, the faust app, schemas) out of every collection
    and collect less often (`GC_THRESHOLDS`); cyclic garbage is still collected."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
