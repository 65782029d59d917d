"""`python -m correlator worker`: run the correlator (faust worker + ingest)."""

from correlator.app import app

if __name__ == "__main__":
    app.main()
