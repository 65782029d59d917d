"""`python -m correlator worker`: run the correlator (faust worker + ingest)."""

from correlator.app import app, settings
from correlator.ingest import create_internal_topics, inbox_topic
from correlator.startup import wait_for_group_coordinators

if __name__ == "__main__":
    create_internal_topics(settings)
    wait_for_group_coordinators(settings, inbox_topic(settings, "dwelling"))
    app.main()
