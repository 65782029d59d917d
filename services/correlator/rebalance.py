"""Keep inbox records fetched while faust finishes a rebalance from being dropped.

The defect (faust-streaming 0.15.3, `Recovery.on_recovery_completed`): once the tables
are recovered, faust resumes the stream partitions, then awaits `perform_seek()` (a
broker round trip per partition), and only then calls `flow_control.resume()`, which
CLEARS every agent's queue. Its fetcher already runs (it read the changelogs) and flow
control is already open (recovery opened it), so whatever the fetcher reads from the
inboxes during the seek goes into the agents' queues and is then thrown away. Those
records count as read: the fetch position and faust's read offset are past them.

- A partition the group never committed on is not seeked at all (aiokafka seeks only
  to a committed offset > 0): its dropped records are never fetched again, and the next
  commit (from the first record that is processed) jumps over them. Records are lost;
  cases come out different from an uninterrupted run.
- A partition with a committed offset is seeked back, but faust's drain loop may set its
  read offset past the seek point again (it finishes the batch it was delivering), so
  the re-fetched records are skipped as already read and never acknowledged; the commit
  waits for them for ever. The partition stays assigned, not paused, with lag, while the
  worker idles: the "stuck partition" of issue 13.

The fix from our side: faust sends `app.on_rebalance_complete` at the start of
`on_recovery_completed`, before it resumes the stream partitions. We suspend flow
control there. Records the fetcher reads during the seek then wait at the conductor's
flow-control gate instead of entering a queue that is about to be cleared; faust's own
`flow_control.resume()` after the seek lets them through, in order, and re-fetched
duplicates are skipped by offset. Nothing is dropped, nothing is processed that the
group does not own (a revocation still clears the queues first).
"""

from __future__ import annotations

from typing import Any

import faust

from ketenbus.logging import get_logger

log = get_logger("correlator.rebalance")


def hold_streams_until_seeked(app: faust.App) -> None:
    """Connect the workaround to `app` (once, at import of the correlator app)."""

    async def _hold(sender: Any, /, *args: Any, **kwargs: Any) -> None:
        # faust resumes flow control itself once the stream partitions are seeked
        app.flow_control.suspend()
        log.debug("streams_held_until_seeked", generation=app.consumer_generation_id)

    app.on_rebalance_complete.connect(_hold)
