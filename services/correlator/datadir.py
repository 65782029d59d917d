"""One live worker per data directory: an exclusive `fcntl` lock on `<datadir>/worker.lock`.

faust keeps a worker's table state under its data directory and expects one directory per
worker. Two workers sharing one join the group and then stick (a partition stays
unconsumed), so the second is refused before it joins. The lock belongs to the open file:
the kernel releases it when the process dies, however it dies (SIGKILL included), so a
crashed worker never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from correlator.errors import CorrelatorError


class DataDirLocked(CorrelatorError):
    """Another live worker holds this data directory."""


LOCK_NAME = "worker.lock"


class DataDirLock:
    """Holds `<datadir>/worker.lock` exclusively while the worker lives."""

    def __init__(self, datadir: Path) -> None:
        self.datadir = datadir
        self.path = datadir / LOCK_NAME
        self._file: IO[str] | None = None

    def acquire(self) -> DataDirLock:
        self.datadir.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise DataDirLocked(
                f"data directory {self.datadir} is held by a live correlator worker"
                f" (pid {holder}); give each worker its own: KETENBUS_CORRELATOR_WORKER=<n>"
                " (or `ketenbus up --workers N`)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
