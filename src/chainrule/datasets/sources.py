"""Where the files of MNIST and Fashion-MNIST come from, and which of them are trusted.

:func:`find_raw` walks the lookup chain: ``data_dir`` → ``$CHAINRULE_DATA`` → the user cache
(converted ``.npz``, then the IDX files) → the cache of older versions, where it differs
(:func:`~chainrule.datasets.cache.legacy_cache_dir`) → :data:`SYSTEM_DIRS` → the :data:`MIRRORS` (when
downloads are allowed). Folders the user names are checked structurally only; the cache, system
folders and downloads must also match :data:`DIGESTS`. The tables are read when a lookup runs,
so changing them in place (``DIGESTS["mnist"] = ...``) or replacing them on this module takes
effect at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from chainrule.datasets import idx
from chainrule.datasets.cache import (
    cache_dir,
    legacy_cache_dir,
    official_npz_path,
    read_npz,
    unlink_quietly,
    user_npz_path,
    write_npz,
)
from chainrule.datasets.download import MirrorsFailed, ProgressFactory, download_from_mirrors
from chainrule.datasets.errors import DatasetError
from chainrule.datasets.idx import IDX_FILES, Digest

__all__ = ["DIGESTS", "MIRRORS", "SYSTEM_DIRS", "find_raw"]

_PRETTY = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}

#: Download mirrors, tried in order; ``<mirror><file>.gz`` is fetched.
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://raw.githubusercontent.com/fgnt/mnist/master/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
}

#: Read-only folders where a distribution may have installed the data (checked against DIGESTS).
SYSTEM_DIRS: dict[str, tuple[Path, ...]] = {
    "mnist": (Path("/usr/share/datasets/mnist"), Path("/usr/local/share/datasets/mnist")),
    "fashion-mnist": (
        Path("/usr/share/datasets/fashion-mnist"),
        Path("/usr/local/share/datasets/fashion-mnist"),
    ),
}

#: A file is genuine when its gzip MD5 or the SHA-256 of its decompressed bytes matches, so
#: recompressed copies (Debian's) pass too.
DIGESTS: dict[str, dict[str, Digest]] = {
    "mnist": {
        "train-images-idx3-ubyte": Digest("f68b3c2dcbeaaa9fbdd348bbdeb94873", None),
        "train-labels-idx1-ubyte": Digest(
            "d53e105ee54ea40749a09fcbcd1e9432",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        ),
        "t10k-images-idx3-ubyte": Digest(
            "9fb629c4189551a2d022fa330f9573f3",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
        "t10k-labels-idx1-ubyte": Digest(
            "ec29112dd5afa0611ce80d1b7f02629c",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": Digest(
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        ),
        "train-labels-idx1-ubyte": Digest(
            "25c81989df183df01b3e8a0aad5dffbe",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        ),
        "t10k-images-idx3-ubyte": Digest(
            "bef4ecab320f06d8554ea6380940ec79",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        ),
        "t10k-labels-idx1-ubyte": Digest(
            "bb300cfdad3c16e7a12a480ee83cd310",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
    },
}


def find_raw(
    name: str,
    data_dir: str | os.PathLike[str] | None,
    download: bool,
    progress: ProgressFactory | None = None,
) -> dict[str, np.ndarray]:
    """Raw arrays x_* ``(N, rows, cols)`` uint8 and t_* ``(N,)`` uint8 of data set ``name``
    ("mnist" or "fashion-mnist") from the first source that works.

    ``data_dir`` given: that folder only, which must be complete. ``download``: whether the
    mirrors may be tried last; ``progress``: the factory downloads report to (None: none).
    Raises :class:`DatasetError` saying where it looked and the ways out.
    """
    pretty = _PRETTY[name]
    if data_dir is not None:
        folder = Path(os.path.expanduser(os.fspath(data_dir)))
        if not folder.is_dir():
            raise DatasetError(f"{pretty}: data_dir {str(folder)!r} is not a folder")
        files, missing = _find_files(folder)
        if missing:
            raise DatasetError(
                f"{pretty}: data_dir {str(folder)!r} lacks {', '.join(m + '[.gz]' for m in missing)}; "
                f"it needs all four IDX files: {', '.join(IDX_FILES)} (each gzipped or not)"
            )
        return _load_user_folder(folder, files)

    looked: list[str] = []  # what was looked at and why it did not serve, for the final error
    env = os.environ.get("CHAINRULE_DATA", "")
    if env:
        root = Path(os.path.expanduser(env))
        for folder in (root / name, root):
            files, missing = _find_files(folder)
            if not missing:
                return _load_user_folder(folder, files)
            looked.append(f"$CHAINRULE_DATA: {folder} ({_why_incomplete(folder, missing)})")
    else:
        looked.append("$CHAINRULE_DATA: not set")

    npz_path = official_npz_path(name, DIGESTS[name])
    raw = read_npz(npz_path)
    if raw is not None:
        return raw

    cache = cache_dir(name)
    files, missing = _find_files(cache)
    if not missing:
        raw, bad = _load_verified_folder(name, files)
        if raw is not None:
            write_npz(npz_path, raw)
            return raw
        for path in (files[b] for b in bad):
            # Our own cache: a file that fails verification would only fail again; drop it so
            # the download below replaces it.
            unlink_quietly(path)
        looked.append(f"cache: {cache} (failed verification, removed: {'; '.join(bad.values())})")
    else:
        looked.append(f"cache: {cache} ({_why_incomplete(cache, missing)})")

    for source, folder in _read_only_folders(name):
        files, missing = _find_files(folder)
        if missing:
            looked.append(f"{source}: {folder} ({_why_incomplete(folder, missing)})")
            continue
        raw, bad = _load_verified_folder(name, files)
        if raw is not None:
            write_npz(npz_path, raw)
            return raw
        looked.append(f"{source}: {folder} (failed verification: {'; '.join(bad.values())})")

    if not download:
        raise DatasetError(
            f"{pretty} not found and download=False.\nLooked in:\n"
            + "".join(f"  - {line}\n" for line in looked)
            + _ways_out(name)
        )
    files = _download_missing(name, cache, looked, progress)
    raw, bad = _load_verified_folder(name, files)
    if raw is None:  # pragma: no cover - downloads are verified before they are renamed
        raise DatasetError(f"{pretty}: downloaded files in {cache} failed verification: {'; '.join(bad.values())}")
    write_npz(npz_path, raw)
    return raw


def _read_only_folders(name: str) -> list[tuple[str, Path]]:
    """(label, folder) of the verified folders chainrule reads but never writes: the cache of
    older versions where it differs from today's (:func:`legacy_cache_dir`), then :data:`SYSTEM_DIRS`."""
    legacy = legacy_cache_dir(name)
    folders = [("old cache", legacy)] if legacy is not None else []
    return folders + [("system", folder) for folder in SYSTEM_DIRS.get(name, ())]


def _find_files(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Map each IDX base name to its file in ``folder`` (``name.gz`` preferred over ``name``)."""
    files: dict[str, Path] = {}
    missing: list[str] = []
    for base in IDX_FILES:
        for candidate in (folder / (base + ".gz"), folder / base):
            if candidate.is_file():
                files[base] = candidate
                break
        else:
            missing.append(base)
    return files, missing


def _why_incomplete(folder: Path, missing: list[str]) -> str:
    if not folder.is_dir():
        return "no such folder"
    return "missing " + ", ".join(missing)


def _ways_out(name: str) -> str:
    lines = [
        "Ways out:",
        f"  - pass data_dir= a folder holding the four IDX files ({', '.join(IDX_FILES)}, gzipped or not)",
        f"  - set $CHAINRULE_DATA to such a folder, or to a folder with a '{name}/' subfolder",
    ]
    if name == "fashion-mnist":
        lines.append("  - on Debian/Ubuntu: apt-get install dataset-fashion-mnist")
    lines.append(f"  - fetch the four official .gz files elsewhere and copy them into {cache_dir(name)}")
    lines.append("  - or use load_spiral(), which needs no files")
    return "\n".join(lines)


def _load_user_folder(folder: Path, files: Mapping[str, Path]) -> dict[str, np.ndarray]:
    """Structural validation only; cached as .npz keyed by the folder and its files' stat()."""
    npz_path, stale_prefix = user_npz_path(folder, files)
    raw = read_npz(npz_path)
    if raw is not None:
        return raw
    arrays = {base: idx.parse_idx(idx.read_idx_bytes(path)[0], path) for base, path in files.items()}
    raw = idx.assemble(arrays, files)
    write_npz(npz_path, raw)
    # Older conversions of this folder are stale by construction; don't let them pile up.
    for old in npz_path.parent.glob(stale_prefix + "*.npz"):
        if old != npz_path:
            unlink_quietly(old)
    return raw


def _load_verified_folder(name: str, files: Mapping[str, Path]) -> tuple[dict[str, np.ndarray] | None, dict[str, str]]:
    """Parse the four files if every one matches DIGESTS; else (None, {base name: why not})."""
    digests = DIGESTS[name]
    bad: dict[str, str] = {}
    payloads: dict[str, bytes] = {}
    for base, path in files.items():
        try:
            data, gz_md5 = idx.read_idx_bytes(path)
        except DatasetError as exc:
            bad[base] = str(exc)
            continue
        if not idx.digest_ok(digests.get(base), gz_md5, data):
            bad[base] = f"{path.name}: digest does not match the official file"
            continue
        payloads[base] = data
    if bad:
        return None, bad
    arrays = {base: idx.parse_idx(data, files[base]) for base, data in payloads.items()}
    return idx.assemble(arrays, files), {}


def _download_missing(name: str, cache: Path, looked: list[str], progress: ProgressFactory | None) -> dict[str, Path]:
    """Download every IDX file the cache folder lacks; return the four paths."""
    pretty = _PRETTY[name]
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"{pretty}: cannot create the cache folder {cache} ({exc.strerror or exc})") from exc
    files, missing = _find_files(cache)
    for base in missing:
        dest = cache / (base + ".gz")
        try:
            download_from_mirrors(MIRRORS.get(name, ()), base + ".gz", dest, DIGESTS[name].get(base), progress=progress)
        except MirrorsFailed as exc:
            # The full story replaces the mirrors' summary, hence no chained exception.
            raise DatasetError(
                f"{pretty}: could not download {base}.gz from any mirror.\nLooked in:\n"
                + "".join(f"  - {line}\n" for line in looked)
                + "Tried:\n"
                + ("".join(f"  - {e}\n" for e in exc.failures) or "  - (no mirrors configured)\n")
                + _ways_out(name)
            ) from None
        files[base] = dest
    return files
