"""The user cache folder and the converted ``.npz`` copies of data sets kept there.

Parsing the four gzipped IDX files of (Fashion-)MNIST takes a while; the raw arrays are saved
once as an uncompressed ``.npz`` and read back from it afterwards. The official data sets are
cached under a name derived from their digest table, user folders under one derived from the
folder's path and its files' ``stat()``, so a cached copy never goes stale. A damaged cache file
is deleted and rebuilt; one that cannot be written only costs speed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from chainrule._files import atomic_file
from chainrule.datasets.idx import IDX_FILES, Digest

__all__ = [
    "cache_dir",
    "legacy_cache_dir",
    "official_npz_path",
    "read_npz",
    "unlink_quietly",
    "user_npz_path",
    "write_npz",
]

# Bump when the layout of the converted .npz changes, so old caches are never read.
_NPZ_FORMAT = 1
_NPZ_KEYS = ("x_train", "t_train", "x_test", "t_test")


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


def read_npz(path: Path) -> dict[str, np.ndarray] | None:
    """The raw arrays (x_* ``(N, rows, cols)``, t_* ``(N,)``, uint8) from a converted cache file,
    or None when there is none; a corrupt file is deleted."""
    if not path.is_file():
        return None
    try:
        # Open the file ourselves: np.load leaks its handle when the zip is damaged.
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            if sorted(npz.files) != sorted(_NPZ_KEYS):
                raise ValueError(f"keys {npz.files}")
            raw = {key: npz[key] for key in _NPZ_KEYS}
        if any(a.dtype != np.uint8 for a in raw.values()):
            raise ValueError("dtype")
        for split in ("train", "test"):
            x, t = raw[f"x_{split}"], raw[f"t_{split}"]
            if x.ndim != 3 or t.ndim != 1 or x.shape[0] != t.shape[0]:
                raise ValueError("shapes")
        if raw["x_train"].shape[1:] != raw["x_test"].shape[1:]:
            raise ValueError("image sizes")
    except Exception:  # any kind of damage: the cache is rebuilt from the source files
        unlink_quietly(path)
        return None
    return raw


def write_npz(path: Path, raw: Mapping[str, np.ndarray]) -> None:
    """Write the raw arrays to ``path`` atomically (see :func:`chainrule._files.atomic_file`).

    A cache that cannot be written (read-only home, full disk) only costs speed, so errors are
    ignored; atomic_file leaves no temporary file behind.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as f:
            np.savez(f, **{key: raw[key] for key in _NPZ_KEYS})
    except OSError:
        pass


def unlink_quietly(path: Path) -> None:
    """Delete ``path`` if it can be deleted; a file already gone or locked is no error here."""
    try:
        path.unlink()
    except OSError:
        pass
