"""Secret files under `<KETENBUS_HOME>/secrets/`: created 0600 in a 0700 directory, written
atomically, never logged. Used for the dev pseudonym key and the intake client registry."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def ensure_dir(directory: Path) -> Path:
    """The secrets directory, created 0700 when missing."""
    directory.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    with contextlib.suppress(PermissionError):  # someone else's dir: leave its mode alone
        os.chmod(directory, DIR_MODE)
    return directory


def write_secret(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically; the file is 0600 from its first byte."""
    ensure_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def create_secret(path: Path, data: bytes) -> bool:
    """Create `path` (0600) with `data` unless it exists; False when another process was
    first (the caller then reads what that process wrote)."""
    ensure_dir(path.parent)
    tmp_path = path.with_name(f".{path.name}.{os.getpid()}.new")
    write_secret(tmp_path, data)
    try:
        os.link(tmp_path, path)  # atomic and exclusive: fails when the file exists
    except FileExistsError:
        return False
    finally:
        tmp_path.unlink(missing_ok=True)
    return True
