"""The user cache folder and the converted ``.npz`` copies of data sets kept there.

Parsing the four gzipped IDX files of (Fashion-)MNIST takes a while; the raw arrays are saved
once as an uncompressed ``.npz`` and read back from it afterwards. The official data sets are
cached under a name derived from their digest table, user folders under one derived from the
folder's path and its files' ``stat()``, so a cached copy never goes stale. Each ``.npz``
carries the SHA-256 of its arrays, written with it and checked when it is read: a damaged or
altered copy is not used, but deleted and rebuilt; one that cannot be written only costs speed.

Deleting: chainrule deletes only files it wrote itself, through :func:`remove_own_file`: regular
files (never a symlink) in a real cache folder (neither it nor a folder between it and
:func:`cache_dir` is a symlink), and, for the IDX files, only those it downloaded (named in the
folder's :data:`DOWNLOADS_FILE`, see :func:`note_download`).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from chainrule._files import atomic_file, read_regular_file, write_json
from chainrule.datasets.idx import IDX_FILES, Digest

__all__ = [
    "DOWNLOADS_FILE",
    "arrays_sha256",
    "cache_dir",
    "downloaded_here",
    "legacy_cache_dir",
    "note_download",
    "official_npz_path",
    "own_folder",
    "read_npz",
    "remove_own_file",
    "remove_stale_npz",
    "user_npz_path",
    "write_npz",
]

# Bump when the layout of the converted .npz changes, so old caches are never read.
_NPZ_FORMAT = 2
_NPZ_KEYS = ("x_train", "t_train", "x_test", "t_test")
_DIGEST_KEY = "sha256"
#: The file in a data set's cache folder naming the files chainrule downloaded there.
DOWNLOADS_FILE = ".chainrule-downloads.json"
_DOWNLOADS_LIMIT = 64 * 1024


def cache_dir(dataset: str | None = None) -> Path:
    """The user cache folder ``<cache>/chainrule``, or its ``<dataset>/`` subfolder. Nothing is created.

    ``<cache>`` is ``$XDG_CACHE_HOME`` when it is set to an absolute path (on every platform),
    else the platform's user cache folder from ``platformdirs``: ``~/.cache`` on Linux,
    ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says relative paths in $XDG_CACHE_HOME are invalid and must be ignored.
    if xdg and os.path.isabs(xdg):
        root = Path(xdg) / "chainrule"
    else:
        import platformdirs  # a dependency, imported here so that `import chainrule` needs NumPy only

        # appauthor=False: on Windows %LOCALAPPDATA%\chainrule\Cache, not chainrule\chainrule\Cache.
        root = Path(platformdirs.user_cache_dir("chainrule", appauthor=False))
        if not root.is_absolute():  # older platformdirs take a relative $XDG_CACHE_HOME as it is
            root = Path.home() / ".cache" / "chainrule"
    return root / dataset if dataset else root


def legacy_cache_dir(dataset: str | None = None) -> Path | None:
    """``~/.cache/chainrule`` (or its ``<dataset>/`` subfolder), where chainrule kept its cache before
    it asked ``platformdirs``, when that is not :func:`cache_dir` (macOS, Windows without
    ``$XDG_CACHE_HOME``); else None. Files there are still read, checked like a system folder's."""
    old = Path.home() / ".cache" / "chainrule"
    if os.path.normcase(os.path.abspath(old)) == os.path.normcase(os.path.abspath(cache_dir())):
        return None
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return None  # the old rule used $XDG_CACHE_HOME too: nothing was ever written to ~/.cache
    return old / dataset if dataset else old


def official_npz_path(name: str, digests: Mapping[str, Digest]) -> Path:
    """Cache path of the converted official data set ``name`` whose files have ``digests``."""
    # Keyed by the digest table: the same digests mean the same bytes, so this never goes stale.
    key = repr((_NPZ_FORMAT, name, sorted(digests.items()))).encode()
    return cache_dir(name) / f"{name}-{hashlib.sha256(key).hexdigest()[:16]}.npz"


def user_npz_path(folder: Path, files: Mapping[str, Path]) -> tuple[Path, str]:
    """Cache path for a user folder: hash of its absolute path, then of each file's stat().

    Returns the path and its folder prefix, which every older conversion of that folder shares.
    """
    folder_key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    stats = []
    for base in IDX_FILES:
        path = files[base].resolve()
        st = path.stat()
        stats.append((str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    stat_key = hashlib.sha256(repr((_NPZ_FORMAT, stats)).encode()).hexdigest()[:16]
    prefix = f"folder-{folder_key}-"
    return cache_dir("folders") / f"{prefix}{stat_key}.npz", prefix


def arrays_sha256(raw: Mapping[str, np.ndarray]) -> str:
    """SHA-256 of the four raw arrays: each key's name, dtype, shape and bytes, in a fixed order."""
    digest = hashlib.sha256(f"chainrule npz {_NPZ_FORMAT};".encode())
    for key in _NPZ_KEYS:
        a = np.ascontiguousarray(raw[key])
        digest.update(f"{key}:{a.dtype.str}{a.shape};".encode())
        digest.update(memoryview(a).cast("B"))
    return digest.hexdigest()


def read_npz(path: Path, sizes: Mapping[str, int | None] | None = None) -> dict[str, np.ndarray] | None:
    """The raw arrays (x_* ``(N, rows, cols)``, t_* ``(N,)``, uint8) from a converted cache file,
    or None when there is none or it is damaged or altered (it is deleted then, see
    :func:`remove_own_file`).

    The arrays must match the SHA-256 stored with them; ``sizes`` (IDX base name → the size of
    the official file in bytes, None where unknown) must match too, header included, for the
    official data sets.
    """
    if not path.is_file():
        return None
    try:
        # Open the file ourselves: np.load leaks its handle when the zip is damaged.
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            if sorted(npz.files) != sorted((*_NPZ_KEYS, _DIGEST_KEY)):
                raise ValueError(f"keys {npz.files}")
            stored = npz[_DIGEST_KEY]
            if stored.dtype.kind != "U" or stored.shape != ():
                raise ValueError("digest")
            raw = {key: npz[key] for key in _NPZ_KEYS}
        if any(a.dtype != np.uint8 for a in raw.values()):
            raise ValueError("dtype")
        for split in ("train", "test"):
            x, t = raw[f"x_{split}"], raw[f"t_{split}"]
            if x.ndim != 3 or t.ndim != 1 or x.shape[0] != t.shape[0]:
                raise ValueError("shapes")
        if raw["x_train"].shape[1:] != raw["x_test"].shape[1:]:
            raise ValueError("image sizes")
        for base, key in zip(IDX_FILES, _NPZ_KEYS, strict=True):
            size = (sizes or {}).get(base)
            if size is not None and 4 + 4 * raw[key].ndim + raw[key].size != size:
                raise ValueError(f"{key} is not the size of {base}")
        if arrays_sha256(raw) != str(stored):
            raise ValueError("SHA-256 mismatch")
    except Exception:  # any kind of damage: the cache is rebuilt from the source files
        remove_own_file(path)
        return None
    return raw


def write_npz(path: Path, raw: Mapping[str, np.ndarray]) -> None:
    """Write the raw arrays and their SHA-256 to ``path`` atomically (see
    :func:`chainrule._files.atomic_file`); older conversions of the same kind (``<name>-*.npz``
    beside it with the same prefix) are stale by construction and removed.

    A cache that cannot be written (read-only home, full disk) only costs speed, so errors are
    ignored; atomic_file leaves no temporary file behind.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as f:
            np.savez(f, **{key: raw[key] for key in _NPZ_KEYS}, **{_DIGEST_KEY: np.array(arrays_sha256(raw))})
    except OSError:
        pass


def remove_stale_npz(path: Path, prefix: str) -> None:
    """Delete the other ``<prefix>*.npz`` files beside ``path``: older conversions of the same source."""
    for old in path.parent.glob(prefix + "*.npz"):
        if old != path:
            remove_own_file(old)


def own_folder(folder: Path) -> bool:
    """Whether ``folder`` is chainrule's to delete in: :func:`cache_dir` or a folder inside it,
    each of them from the cache root down a real folder, not a symlink (a symlink leads to
    someone else's files)."""
    root = cache_dir()
    try:
        rel = Path(os.path.abspath(folder)).relative_to(os.path.abspath(root))
    except ValueError:
        return False
    folders = [root]
    for part in rel.parts:
        folders.append(folders[-1] / part)
    try:
        return all(stat.S_ISDIR(os.lstat(each).st_mode) for each in folders)
    except OSError:
        return False


def remove_own_file(path: Path) -> bool:
    """Delete ``path`` when it is chainrule's own: a regular file, not a symlink, in a folder
    :func:`own_folder` accepts. Returns whether it was deleted; a file that cannot be deleted
    (already gone, locked) is no error here."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode) or not own_folder(path.parent):
            return False
        path.unlink()
    except OSError:
        return False
    return True


def downloaded_here(folder: Path) -> set[str]:
    """The names of the files chainrule downloaded into ``folder`` (from its :data:`DOWNLOADS_FILE`)."""
    try:
        record = json.loads(read_regular_file(folder / DOWNLOADS_FILE, "downloads record", limit=_DOWNLOADS_LIMIT))
        return {name for name in record["files"] if isinstance(name, str)}
    except (ValueError, TypeError, KeyError, RecursionError):
        return set()  # no record (or a damaged one): nothing there counts as chainrule's


def note_download(folder: Path, name: str) -> None:
    """Record in ``folder``'s :data:`DOWNLOADS_FILE` that chainrule wrote the file ``name`` there.

    A record that cannot be written costs nothing but this: chainrule will not delete that file.
    """
    names = downloaded_here(folder) | {name}
    try:
        write_json(folder / DOWNLOADS_FILE, {"files": sorted(names)})
    except OSError:
        pass
