"""`python -m correlator worker`: run the correlator (faust worker + ingest)."""

from correlator.app import app, settings
from correlator.ingest import create_internal_topics

if __name__ == "__main__":
    create_internal_topics(settings)
    app.main()
