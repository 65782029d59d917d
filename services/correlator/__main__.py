"""`python -m correlator worker`: run the correlator (faust worker + ingest)."""

import asyncio

import uvloop

from correlator.app import app, settings
from correlator.ingest import create_internal_topics
from correlator.startup import wait_for_group_coordinators
from correlator.topology import inbox_topic

if __name__ == "__main__":
    create_internal_topics(settings)
    wait_for_group_coordinators(settings, inbox_topic(settings, "dwelling"))
    # uvloop for the worker's event loops (faust's and its consumer thread's): every inbox
    # message costs several loop iterations.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app.main()
