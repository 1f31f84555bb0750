"""Downloading IDX files over HTTP(S), verified, with progress reported to a factory.

:func:`download_file` streams one URL into a temporary file beside the destination and renames
it into place only once it is complete and matches its :class:`~chainrule.datasets.idx.Digest`,
so the destination is either absent or genuine. :func:`download_from_mirrors` tries a list of
mirrors in turn.

Limits, so that no server can keep a download going or fill the disk: every wait (connecting,
each read) ends after :data:`TIMEOUT` seconds; after that much time the average rate must stay
above :data:`MIN_RATE` bytes a second, so a server trickling bytes is dropped too (a file of
``L`` bytes at most takes ``TIMEOUT + L / MIN_RATE`` seconds, plus one wait); and no more bytes
are accepted than the file can have (:func:`~chainrule.datasets.idx.gzip_bound` of the size in
its :class:`~chainrule.datasets.idx.Digest`, :data:`MAX_BYTES` when that is unknown). The MD5
is computed while the body is written; a copy that is not the upstream gzip file is checked on
the SHA-256 of its content, inflated in a stream no further than the official size. Temporary
``.part`` files that a killed download left behind are removed when the next download into the
same folder starts, once they are :data:`STALE_PART_AGE` seconds old.

Progress is reported, never drawn here: ``progress`` is None/False (nothing),
True (:func:`chainrule.progress.download_bar`, a tqdm bar on stderr) or a factory
``progress(file_name, total_bytes_or_None)`` returning an object with ``update(n_bytes)`` and
``close()``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from chainrule._files import atomic_file
from chainrule._version import __version__
from chainrule.datasets import idx
from chainrule.datasets.errors import DatasetError
from chainrule.datasets.idx import Digest
from chainrule.progress import download_bar

__all__ = [
    "MAX_BYTES",
    "MIN_RATE",
    "STALE_PART_AGE",
    "TIMEOUT",
    "MirrorsFailed",
    "Progress",
    "ProgressFactory",
    "download_file",
    "download_from_mirrors",
    "progress_factory",
    "remove_stale_parts",
]

#: ``factory(file_name, total_bytes_or_None)`` → an object with ``update(n_bytes)`` and ``close()``.
ProgressFactory = Callable[[str, int | None], Any]
#: What the loaders' ``progress`` argument accepts: None/False, True or a :data:`ProgressFactory`.
Progress = bool | ProgressFactory | None

#: Seconds a download may wait for the connection or for the next chunk of data; also the grace
#: period before :data:`MIN_RATE` applies.
TIMEOUT: float = 30.0
#: Bytes a second a download must average once :data:`TIMEOUT` seconds have passed.
MIN_RATE: float = 32 * 1024
#: The most bytes accepted for a file whose size is not in its digest.
MAX_BYTES: int = 256 * 1024 * 1024
#: Seconds after its last write when a download's ``.part`` file counts as left by a dead process.
STALE_PART_AGE: float = 3600.0
_CHUNK = 1 << 16
# atomic_file's temporary names: ".<name>.<12 hex digits><suffix>".
_PART_NAME = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{12}\.part\Z")
_USER_AGENT = f"chainrule/{__version__}"


class MirrorsFailed(DatasetError):
    """Every mirror failed to deliver one file; ``failures`` holds one ``"url: why"`` line per mirror tried."""

    def __init__(self, file_name: str, failures: list[str]) -> None:
        super().__init__(f"could not download {file_name} from any mirror: " + ("; ".join(failures) or "no mirrors"))
        self.failures = failures


def progress_factory(progress: Progress, where: str) -> ProgressFactory | None:
    """The factory that ``progress`` asks for: None for None/False, ``download_bar`` for True,
    ``progress`` itself when it is callable; anything else raises ``ValueError`` naming ``where``."""
    if progress is None or isinstance(progress, (bool, np.bool_)):
        return download_bar if progress else None
    if callable(progress):
        return progress
    raise ValueError(
        f"{where}: progress must be True, False, None or a callable progress(name, total_bytes), got {progress!r}"
    )


def download_from_mirrors(
    mirrors: Sequence[str], file_name: str, dest: Path, digest: Digest | None, *, progress: Progress = None
) -> None:
    """Download ``<mirror><file_name>`` to ``dest`` from the first of ``mirrors`` that delivers
    a verified file (see :func:`download_file`).

    Raises :class:`MirrorsFailed`, listing what went wrong at each mirror, when none does.
    """
    failures: list[str] = []
    for mirror in mirrors:
        url = mirror + file_name
        try:
            download_file(url, dest, digest, progress=progress)
        except DatasetError as exc:
            failures.append(f"{url}: {exc}")
            continue
        return
    raise MirrorsFailed(file_name, failures)


def download_file(url: str, dest: Path, digest: Digest | None, *, progress: Progress = None) -> None:
    """Fetch ``url`` to ``dest`` (a gzipped IDX file), verified against ``digest``.

    Streams into a temp file beside ``dest`` (whose folder must exist) and renames it into
    place only once complete and verified. ``progress``: None/False (no display), True (a tqdm
    bar on stderr) or a factory ``progress(dest.name, total_bytes_or_None)`` whose result gets
    ``update(n_bytes)`` for every chunk received and ``close()`` at the end. Every failure (HTTP
    error, timeout, a rate below :data:`MIN_RATE`, refused connection, short read, a body
    larger than the file can be, checksum mismatch) raises :class:`DatasetError` saying what
    happened; the caller moves on to the next mirror.
    """
    if digest is None:
        raise DatasetError("no digest known for this file, refusing to trust a download")
    factory = progress_factory(progress, "download_file")
    limit = idx.gzip_bound(digest.size) if digest.size is not None else MAX_BYTES
    remove_stale_parts(dest.parent, (dest.name,))
    # Any exception in this block (Ctrl-C included) removes the temp file: nothing is left behind
    # that a later run could trust.
    with atomic_file(dest, suffix=".part") as out:
        md5, received, expected = _stream(url, out, factory, dest.name, limit)
        if expected is not None and received != expected:
            raise DatasetError(f"interrupted transfer: received {received} of {expected} bytes")
        if received == 0:
            raise DatasetError("empty response")
        if not (digest.gzip_md5 is not None and md5 == digest.gzip_md5):
            # Not the upstream gzip bytes; a recompressed copy passes on the SHA-256 of its content.
            out.flush()  # read back by name below, inflated no further than the official size
            try:
                content = idx.read_idx(Path(out.name), expected_size=digest.size)
            except DatasetError as exc:
                raise DatasetError(f"checksum mismatch and unreadable content ({exc})") from exc
            sha256 = content.sha256()
            if digest.sha256 is None or sha256 != digest.sha256:
                raise DatasetError(
                    f"checksum mismatch (MD5 {md5}, expected {digest.gzip_md5 or 'n/a'}; "
                    f"SHA-256 of content {sha256}, expected {digest.sha256 or 'n/a'})"
                )


def remove_stale_parts(folder: Path, names: Sequence[str], *, age: float | None = None) -> list[Path]:
    """Delete the temporary ``.part`` files of downloads of ``names`` in ``folder`` that a killed
    process left: regular files (never a symlink) of chainrule's temporary names, unchanged for
    ``age`` seconds (:data:`STALE_PART_AGE` by default; a live download writes at least every
    :data:`TIMEOUT` seconds). Returns the files deleted; errors only mean less is cleaned."""
    age = STALE_PART_AGE if age is None else age
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _PART_NAME.match(entry.name)
        if match is None or match["name"] not in names:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and now - st.st_mtime > age:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _stream(
    url: str, out: IO[bytes], factory: ProgressFactory | None, name: str, limit: int
) -> tuple[str, int, int | None]:
    """Copy the body of ``url`` into ``out``, at most ``limit`` bytes; return (its MD5 hex
    digest, bytes received, Content-Length or None). Every failure becomes a :class:`DatasetError`."""
    md5 = hashlib.md5()
    received = 0
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    start = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            length_header = response.headers.get("Content-Length")
            expected = int(length_header) if length_header and length_header.isdigit() else None
            if expected is not None and expected > limit:
                raise DatasetError(
                    f"the server announces {expected} bytes, more than the {limit} bytes this file can have"
                )
            bar = factory(name, expected) if factory is not None else None
            try:
                while True:
                    # read1: one read from the socket (each bounded by TIMEOUT), so the rate is
                    # checked however slowly the bytes come.
                    chunk = response.read1(min(_CHUNK, limit + 1 - received))
                    if not chunk:
                        break
                    received += len(chunk)
                    if received > limit:
                        raise DatasetError(f"the server sent more than the {limit} bytes this file can have")
                    out.write(chunk)
                    md5.update(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
                    elapsed = time.monotonic() - start
                    if elapsed > TIMEOUT and received < MIN_RATE * (elapsed - TIMEOUT):
                        raise DatasetError(
                            f"too slow: {received} bytes in {elapsed:.1f} s, "
                            f"below the minimum of {MIN_RATE:g} bytes/s after the first {TIMEOUT:g} s"
                        )
            finally:
                if bar is not None:
                    bar.close()
    except DatasetError:
        raise
    except urllib.error.HTTPError as exc:
        raise DatasetError(f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise DatasetError(f"cannot connect ({exc.reason})") from exc
    except TimeoutError as exc:
        raise DatasetError(f"timed out after {TIMEOUT:g} s") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise DatasetError(f"transfer failed ({type(exc).__name__}: {exc})") from exc
    except Exception as exc:  # whatever else goes wrong, the next mirror gets its turn
        raise DatasetError(f"download failed ({type(exc).__name__}: {exc})") from exc
    return md5.hexdigest(), received, expected
