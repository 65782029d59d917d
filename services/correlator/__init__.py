"""The correlator: joins agency events into multi-violation cases and notifies every party.

`domain/` is the pure core (fold events into aggregates, decide status and notifications);
`app.py` is the Faust glue (decode -> pure function -> produce -> commit); `ingest.py`
brings every agency source topic into the app; `projection.py` reads the outputs back for
the command line.
"""
