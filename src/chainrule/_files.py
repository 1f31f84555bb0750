"""The one way chainrule writes a file: atomically, with the usual file mode.

``atomic_file(path)`` opens a temporary file in the destination's folder and, when the block
ends normally, flushes it, fsyncs it, renames it over ``path`` and fsyncs the folder, so readers
see the old file or the new one, never a partial write. If the block raises (Ctrl-C included)
the temporary file is removed and ``path`` is untouched. The temporary file is created with
``open(tmp, "xb")`` (``O_CREAT | O_EXCL``, mode 0o666), so the kernel applies the process's umask exactly as for
any other new file (no ``os.umask`` round trip, which would change the mask process-wide).
Checkpoints, run files, downloads, the data cache and drawings all write through here.

Reading files a user names goes through :func:`read_regular_file`: only a regular file is opened
(a FIFO would block for ever, ``/dev/zero`` never ends), and only up to a size limit, checked
before a byte is read.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = [
    "STALE_TEMP_SECONDS",
    "atomic_file",
    "atomic_write",
    "read_regular_file",
    "regular_file_size",
    "remove_temp_files",
    "write_json",
]


def _create_temp(folder: Path, name: str, suffix: str) -> tuple[IO[bytes], Path]:
    for _ in range(100):
        tmp = folder / f".{name}.{secrets.token_hex(6)}{suffix}"
        try:
            return open(tmp, "xb"), tmp  # noqa: SIM115 - closed by atomic_file
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder}: could not create a temporary file for {name}")  # pragma: no cover


#: A temporary file older than this (seconds), left by a writer that was killed, is removed by
#: the next write of the same file in the same folder.
STALE_TEMP_SECONDS = 3600.0
# Errors of writing to a disk (full, over quota, too large, failing, read-only): raised inside the
# block by f.write, they are reported with the file being written, not the hidden temporary one.
_DISK_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG", "EIO", "EROFS") if hasattr(errno, name)
)


@contextmanager
def atomic_file(
    path: str | os.PathLike[str], *, suffix: str = ".tmp", stale_after: float = STALE_TEMP_SECONDS
) -> Iterator[IO[bytes]]:
    """Yield a binary file that replaces ``path`` atomically when the block ends without error.

    ``f.name`` is the temporary file's path (a download can read it back to verify it before the
    block ends); nothing is at ``path`` until the rename. An ``OSError`` of the write itself (a
    full disk, a read-only folder) names ``path``, never the temporary file, and keeps its type
    and ``errno``. Temporary files of ``path`` older than ``stale_after`` seconds (left by a
    writer killed with SIGKILL) are removed first, so they never pile up.
    """
    target = Path(path)
    _remove_stale_temps(target, suffix, stale_after)
    try:
        f, tmp = _create_temp(target.parent, target.name, suffix)
    except OSError as exc:
        raise _naming(exc, target) from None
    try:
        with f:
            try:
                yield f
            except OSError as exc:
                if exc.errno in _DISK_ERRNOS or exc.filename == str(tmp):
                    raise _naming(exc, target) from None
                raise
            try:
                f.flush()
                os.fsync(f.fileno())
            except OSError as exc:
                raise _naming(exc, target) from None
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise _naming(exc, target) from None
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(target.parent)


def _naming(exc: OSError, target: Path) -> OSError:
    """``exc`` as the same kind of error (type and errno kept) saying which file could not be written."""
    new = type(exc)(f"{target}: cannot write the file: {exc.strerror or exc}")
    new.errno = exc.errno  # (strerror left unset, so str(new) is the message above)
    return new


def _remove_stale_temps(target: Path, suffix: str, stale_after: float) -> None:
    """Remove ``.<name>.<12 hex digits><suffix>`` files next to ``target`` (chainrule's own
    temporary files for it, by their name) last modified more than ``stale_after`` seconds ago."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.[0-9a-f]{{12}}{re.escape(suffix)}")
    _remove_matching(target.parent, pattern, stale_after)


def remove_temp_files(folder: str | os.PathLike[str], *, suffix: str = ".tmp", stale_after: float = 0.0) -> None:
    """Remove every temporary file :func:`atomic_file` names (``.<name>.<12 hex digits><suffix>``)
    in ``folder`` older than ``stale_after`` seconds. For a folder the caller holds exclusively
    (a locked run folder), where any such file is a killed writer's."""
    _remove_matching(Path(folder), re.compile(rf"\..+\.[0-9a-f]{{12}}{re.escape(suffix)}"), stale_after)


def _remove_matching(folder: Path, pattern: re.Pattern[str], stale_after: float) -> None:
    cutoff = time.time() - stale_after
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return  # reported by the write itself
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
        except OSError:
            pass  # gone already, or not ours to remove: the write goes on


def atomic_write(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_file`); returns the path.

    Any ``OSError`` of the write names ``path``."""
    target = Path(path)
    with atomic_file(target) as f:
        try:
            f.write(data)
        except OSError as exc:
            raise _naming(exc, target) from None
    return target


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


def regular_file_size(
    path: str | os.PathLike[str], what: str, *, limit: int | None = None, error: type[Exception] = ValueError
) -> int:
    """The size in bytes of ``path``, which must be a regular file of at most ``limit`` bytes.

    ``what`` names the file in the message (``"checkpoint"``, ``"image"``); ``error`` is the
    exception raised (the caller's own, e.g. ``CheckpointError``). Following a symlink is fine:
    what counts is the file it leads to. Raises ``error`` for a missing file, a folder, a FIFO,
    a device (``/dev/zero``) or a socket, and for a file larger than ``limit``; the stat call
    never blocks and nothing is read.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: no such {what} file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} file: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a folder"
            if stat.S_ISDIR(st.st_mode)
            else "a FIFO (named pipe)"
            if stat.S_ISFIFO(st.st_mode)
            else "a device"
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
            else "a socket"
            if stat.S_ISSOCK(st.st_mode)
            else "not a regular file"
        )
        raise error(f"{path}: expected a regular {what} file, got {kind}")
    if limit is not None and st.st_size > limit:
        raise error(f"{path}: the {what} file is {_size(st.st_size)}, more than the {_size(limit)} a {what} may be")
    return st.st_size


def read_regular_file(
    path: str | os.PathLike[str], what: str, *, limit: int, error: type[Exception] = ValueError
) -> bytes:
    """The bytes of ``path`` after :func:`regular_file_size` has checked it (regular, at most ``limit``).

    The read itself is bounded too (``limit + 1`` bytes), so a file that grows after the check
    cannot make it allocate more.
    """
    size = regular_file_size(path, what, limit=limit, error=error)
    try:
        with open(path, "rb") as f:
            # f.read(n) allocates n bytes up front: ask for the size stat gave (and one byte to
            # notice growth), never for the limit, then read on in bounded chunks if it grew.
            parts = [f.read(size + 1)]
            total = len(parts[0])
            while total > size and total <= limit:
                chunk = f.read(min(1 << 20, limit + 1 - total))
                if not chunk:
                    break
                parts.append(chunk)
                total += len(chunk)
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} file: {exc.strerror or exc}") from None
    data = parts[0] if len(parts) == 1 else b"".join(parts)
    if len(data) > limit:
        raise error(f"{path}: the {what} file grew past {_size(limit)} while it was read")
    return data


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"
