"""`python -m correlator worker`: run the correlator (faust worker + ingest).

The worker first takes its data directory's lock: a second worker started on a data
directory a live worker holds exits with status 2 and says why, instead of joining the
group and sticking. The lock comes before the faust app is even imported, so the refusal
does not depend on anything the app needs at import (the broker's credentials, say).
"""

import asyncio
import sys

import uvloop

from correlator.collector import tune_gc
from correlator.datadir import DataDirLock, DataDirLocked
from correlator.errors import CorrelatorError
from ketenbus.settings import get_settings


def main() -> None:
    settings = get_settings()
    try:
        lock = DataDirLock(settings.correlator_datadir).acquire()
    except DataDirLocked as exc:
        print(f"correlator: refused: {exc}", file=sys.stderr)
        sys.exit(2)
    from correlator.app import app
    from correlator.ingest import create_internal_topics
    from correlator.startup import wait_for_group_coordinators
    from correlator.topology import inbox_topic

    try:
        # topics faust creates itself (repartition, leader) replicate like the internal ones
        app.conf.topic_replication_factor = create_internal_topics(settings)
        wait_for_group_coordinators(settings, inbox_topic(settings, "dwelling"))
    except CorrelatorError as exc:
        print(f"correlator: cannot start: {exc}", file=sys.stderr)
        sys.exit(1)
    # uvloop for the worker's event loops (faust's and its consumer thread's): every inbox
    # message costs several loop iterations.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    tune_gc()  # a full collection walks every kept aggregate: see correlator/collector.py
    try:
        app.main()
    finally:
        lock.release()


if __name__ == "__main__":
    main()
