"""Intake throughput (HTTP and file import) against the broker of KETENBUS_BOOTSTRAP_SERVERS.

    .venv/bin/python benchmarks/bench_intake.py [RECORDS] [CLIENTS]

Same as `ketenbus bench intake --records RECORDS --clients CLIENTS`.
"""

from __future__ import annotations

import sys

from devtools.bench.intake import run_intake_bench
from ketenbus.logging import configure_logging

if __name__ == "__main__":
    configure_logging("WARNING")
    records = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    for figure in run_intake_bench(records, clients):
        print(figure)
