"""`python -m correlator worker`: run the correlator (faust worker + ingest)."""

from correlator.app import app, settings
from correlator.ingest import create_inboxes

if __name__ == "__main__":
    create_inboxes(settings)
    app.main()
