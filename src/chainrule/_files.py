"""The one way chainrule writes a file: atomically, with the usual file mode.

``atomic_file(path)`` opens a temporary file in the destination's folder and, when the block
ends normally, flushes it, fsyncs it, renames it over ``path`` and fsyncs the folder, so readers
see the old file or the new one, never a partial write. If the block raises (Ctrl-C included)
the temporary file is removed and ``path`` is untouched. The temporary file is created with
``open(tmp, "xb")`` (``O_CREAT | O_EXCL``, mode 0o666), so the kernel applies the process's umask exactly as for
any other new file (no ``os.umask`` round trip, which would change the mask process-wide).
Checkpoints, run files, downloads, the data cache and drawings all write through here.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_file", "atomic_write", "write_json"]


def _create_temp(folder: Path, name: str, suffix: str) -> tuple[IO[bytes], Path]:
    for _ in range(100):
        tmp = folder / f".{name}.{secrets.token_hex(6)}{suffix}"
        try:
            return open(tmp, "xb"), tmp  # noqa: SIM115 - closed by atomic_file
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder}: could not create a temporary file for {name}")  # pragma: no cover


@contextmanager
def atomic_file(path: str | os.PathLike[str], *, suffix: str = ".tmp") -> Iterator[IO[bytes]]:
    """Yield a binary file that replaces ``path`` atomically when the block ends without error.

    ``f.name`` is the temporary file's path (a download can read it back to verify it before the
    block ends); nothing is at ``path`` until the rename.
    """
    target = Path(path)
    f, tmp = _create_temp(target.parent, target.name, suffix)
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(target.parent)


def atomic_write(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_file`); returns the path."""
    with atomic_file(path) as f:
        f.write(data)
    return Path(path)


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON (UTF-8, trailing newline) to ``path`` atomically."""
    return atomic_write(path, (json.dumps(obj, indent=2, allow_nan=True) + "\n").encode("utf-8"))


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable on POSIX; not possible (nor needed) everywhere.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
