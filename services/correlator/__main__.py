"""`python -m correlator worker`: run the correlator (faust worker + ingest).

The worker first takes its data directory's lock: a second worker started on a data
directory a live worker holds exits with status 2 and says why, instead of joining the
group and sticking.
"""

import sys

from correlator.app import app, settings
from correlator.datadir import DataDirLock, DataDirLocked
from correlator.ingest import create_internal_topics

if __name__ == "__main__":
    try:
        lock = DataDirLock(settings.correlator_datadir).acquire()
    except DataDirLocked as exc:
        print(f"correlator: refused: {exc}", file=sys.stderr)
        sys.exit(2)
    # topics faust creates itself (repartition, leader) replicate like the internal ones
    app.conf.topic_replication_factor = create_internal_topics(settings)
    app.main()
