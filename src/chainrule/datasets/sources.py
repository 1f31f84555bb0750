"""Where the files of MNIST and Fashion-MNIST come from, and which of them are trusted.

:func:`find_raw` walks the lookup chain: ``data_dir`` → ``$CHAINRULE_DATA`` → the user cache
(converted ``.npz``, then the IDX files) → the cache of older versions, where it differs
(:func:`~chainrule.datasets.cache.legacy_cache_dir`) → :data:`SYSTEM_DIRS` → the :data:`MIRRORS` (when
downloads are allowed). Folders the user names are checked structurally only; the cache, system
folders and downloads must also match :data:`DIGESTS`. The tables are read when a lookup runs,
so changing them in place (``DIGESTS["mnist"] = ...``) or replacing them on this module takes
effect at once.

:func:`locate` walks the same chain without loading, downloading or deleting anything and says
where a load would read from (a :class:`Location`); :func:`download_dataset` puts the verified
official files into the user cache. A data set found nowhere raises
:class:`~chainrule.datasets.errors.DatasetNotFoundError`, worded for Python and carrying the
places looked at and the mirrors tried, so that a front end can word its own ways out.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from chainrule.datasets import idx
from chainrule.datasets.cache import (
    cache_dir,
    downloaded_here,
    legacy_cache_dir,
    note_download,
    official_npz_path,
    read_npz,
    remove_own_file,
    remove_stale_npz,
    user_npz_path,
    write_npz,
)
from chainrule.datasets.download import (
    MirrorsFailed,
    Progress,
    ProgressFactory,
    download_from_mirrors,
    progress_factory,
)
from chainrule.datasets.errors import DatasetError, DatasetNotFoundError, Place
from chainrule.datasets.idx import IDX_FILES, Digest

__all__ = [
    "DIGESTS",
    "MIRRORS",
    "SYSTEM_DIRS",
    "Downloaded",
    "FileCheck",
    "Location",
    "download_dataset",
    "find_raw",
    "locate",
]

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

#: A file is genuine when it has the size (of its decompressed IDX bytes) on record and its gzip
#: MD5 or the SHA-256 of its decompressed bytes matches, so recompressed copies (Debian's) pass
#: too. MNIST's training images have only the MD5 of the upstream .gz on record: a recompressed
#: or uncompressed copy of them is used from ``data_dir`` or ``$CHAINRULE_DATA`` (checked for
#: structure only), never from a verified folder.
DIGESTS: dict[str, dict[str, Digest]] = {
    "mnist": {
        "train-images-idx3-ubyte": Digest("f68b3c2dcbeaaa9fbdd348bbdeb94873", None, 47_040_016),
        "train-labels-idx1-ubyte": Digest(
            "d53e105ee54ea40749a09fcbcd1e9432",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            60_008,
        ),
        "t10k-images-idx3-ubyte": Digest(
            "9fb629c4189551a2d022fa330f9573f3",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            7_840_016,
        ),
        "t10k-labels-idx1-ubyte": Digest(
            "ec29112dd5afa0611ce80d1b7f02629c",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            10_008,
        ),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": Digest(
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            47_040_016,
        ),
        "train-labels-idx1-ubyte": Digest(
            "25c81989df183df01b3e8a0aad5dffbe",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            60_008,
        ),
        "t10k-images-idx3-ubyte": Digest(
            "bef4ecab320f06d8554ea6380940ec79",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            7_840_016,
        ),
        "t10k-labels-idx1-ubyte": Digest(
            "bb300cfdad3c16e7a12a480ee83cd310",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            10_008,
        ),
    },
}


@dataclass(frozen=True)
class FileCheck:
    """One file checked against the official digests: ``ok``, and ``detail`` saying how it
    matched ("MD5 of the gzip file", "SHA-256 of its content") or why not; ``readable``: False
    when the file could not be read at all (permissions, I/O), which says nothing of its bytes."""

    path: Path
    ok: bool
    detail: str
    readable: bool = True


@dataclass(frozen=True)
class Location:
    """Where a data set would be loaded from (see :func:`locate`).

    ``source``: "data_dir", "$CHAINRULE_DATA" (folders the user names, checked for structure
    only when loaded), "cache", "old cache" or "system" (``official``: their files matched
    :data:`DIGESTS`). ``folder`` holds ``files`` (IDX base name → path); when only the
    converted copy is left in the cache (``converted``), ``files`` is empty. ``checks``: each
    file against the official digests, where they were checked. ``looked``: the places before
    it that did not serve, as :class:`Place` entries.
    """

    dataset: str
    source: str
    folder: Path
    files: Mapping[str, Path]
    checks: Mapping[str, FileCheck] = field(default_factory=dict)
    looked: tuple[Place, ...] = ()
    converted: bool = False

    @property
    def official(self) -> bool:
        """Whether files from here are used only when they match the official digests."""
        return self.source in _OFFICIAL_SOURCES

    @property
    def verified(self) -> bool:
        """Whether every file here was found to match the official digests (a converted copy
        was made from verified files)."""
        return self.converted or (bool(self.checks) and all(c.ok for c in self.checks.values()))


@dataclass(frozen=True)
class Downloaded:
    """What :func:`download_dataset` did: the cache ``folder`` and the files (paths) it
    ``downloaded``, ``kept`` (already there and verified) and ``replaced`` (there, but not official)."""

    dataset: str
    folder: Path
    downloaded: tuple[Path, ...]
    kept: tuple[Path, ...]
    replaced: tuple[Path, ...]


_OFFICIAL_SOURCES = ("cache", "old cache", "system")


def find_raw(
    name: str,
    data_dir: str | os.PathLike[str] | None,
    download: bool,
    progress: ProgressFactory | None = None,
    split: str | None = None,
) -> dict[str, np.ndarray]:
    """Raw arrays x_* ``(N, rows, cols)`` uint8 and t_* ``(N,)`` uint8 of data set ``name``
    ("mnist" or "fashion-mnist") from the first source that works.

    ``data_dir`` given: that folder only, which must hold the files needed. ``download``:
    whether the mirrors may be tried last; ``progress``: the factory downloads report to (None:
    none). ``split`` "train" or "test": only that split's two files are needed and only its
    arrays returned; None: all four. Raises :class:`DatasetNotFoundError` saying where it
    looked and the ways out, :class:`DatasetError` for anything else.
    """
    needed = idx.split_files(split)
    if data_dir is not None:
        folder, files = _given_folder(name, data_dir, needed)
        return _load_user_folder(folder, files)

    looked: list[Place] = []  # what was looked at and why it did not serve, for the final error
    found = _env_folder(name, needed, looked)
    if found is not None:
        return _load_user_folder(*found)

    npz_path = official_npz_path(name, DIGESTS[name])
    raw = read_npz(npz_path, {base: digest.size for base, digest in DIGESTS[name].items()})
    if raw is not None:
        return _only(raw, split)

    kept: list[FileCheck] = []
    official = _first_official(name, needed, looked, repair_cache=True, kept=kept)
    if official is not None:
        files, arrays = official.files, official.arrays
    elif not download:
        raise _not_found(name, needed, looked)
    else:
        if kept:
            raise _kept_error(name, kept)
        files = _download_missing(name, needed, progress, looked)
        checks, arrays = _check_files(name, files)
        bad = [check for check in checks.values() if not check.ok]
        if bad:  # pragma: no cover - downloads are verified before they are renamed
            raise DatasetError(f"{_PRETTY[name]}: downloaded files failed verification: {_failures(bad)}")
    raw = idx.assemble(arrays, files)
    if split is None:
        write_npz(npz_path, raw)
        remove_stale_npz(npz_path, f"{name}-")
    return raw


def locate(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    split: str | None = None,
    check_digests: bool = False,
) -> Location:
    """Where :func:`find_raw` would load data set ``name`` from, without loading, downloading or
    changing anything: the first place of the lookup chain holding the files needed (``split``:
    see :func:`find_raw`), official folders only when their files match :data:`DIGESTS`; a
    converted copy in the cache when no folder serves.

    Files in folders the user names are checked against the digests only when
    ``check_digests`` is true (they are used either way). Raises :class:`DatasetNotFoundError`
    when no place serves, :class:`DatasetError` for a ``data_dir`` that lacks files.
    """
    _check_name(name, "locate")
    needed = idx.split_files(split)
    if data_dir is not None:
        folder, files = _given_folder(name, data_dir, needed)
        checks = _check_files(name, files)[0] if check_digests else {}
        return Location(name, "data_dir", folder, files, checks)
    looked: list[Place] = []
    found = _env_folder(name, needed, looked)
    if found is not None:
        folder, files = found
        checks = _check_files(name, files)[0] if check_digests else {}
        return Location(name, "$CHAINRULE_DATA", folder, files, checks, tuple(looked))
    official = _first_official(name, needed, looked, repair_cache=False)
    if official is not None:
        return Location(name, official.source, official.folder, official.files, official.checks, tuple(looked))
    npz_path = official_npz_path(name, DIGESTS[name])
    if npz_path.is_file():  # made from verified files, so it serves every split
        return Location(name, "cache", npz_path.parent, {}, {}, tuple(looked), converted=True)
    raise _not_found(name, needed, looked)


def download_dataset(name: str, *, progress: Progress = None) -> Downloaded:
    """Make sure the user cache (:func:`cache_dir`) holds the four official files of ``name``
    ("mnist" or "fashion-mnist"): files already there are checked against :data:`DIGESTS`, those
    that do not match are deleted, and the missing ones are downloaded from :data:`MIRRORS`,
    verified, reporting to ``progress`` (see :func:`chainrule.datasets.load_mnist`).

    Only files chainrule downloaded are deleted (see :func:`chainrule.datasets.cache.remove_own_file`);
    a file there that fails and is not one of them raises :class:`DatasetError` naming it, before
    anything is downloaded. Other places of the lookup chain are neither consulted nor changed.
    Raises :class:`DatasetNotFoundError` when no mirror delivers a file.
    """
    _check_name(name, "download_dataset")
    factory = progress_factory(progress, "download_dataset")
    cache = cache_dir(name)
    files, _ = _find_files(cache, IDX_FILES)
    checks, _ = _check_files(name, files)
    kept = tuple(check.path for check in checks.values() if check.ok)
    bad = [check for check in checks.values() if not check.ok]
    stays = [check for check in bad if not _remove_download(check)]
    if stays:
        raise _kept_error(name, stays)
    replaced = tuple(check.path for check in bad)
    have = {base for base, check in checks.items() if check.ok}
    after = _download_missing(name, IDX_FILES, factory, [])
    downloaded = tuple(path for base, path in after.items() if base not in have)
    return Downloaded(name, cache, downloaded, kept, replaced)


def _check_name(name: str, func: str) -> None:
    if name not in DIGESTS:
        raise DatasetError(f"{func}: no files are known for data set {name!r}; expected one of: {', '.join(DIGESTS)}")


def _only(raw: dict[str, np.ndarray], split: str | None) -> dict[str, np.ndarray]:
    """The arrays of ``split`` (all for None)."""
    return raw if split is None else {key: raw[key] for key in (f"x_{split}", f"t_{split}")}


def _given_folder(name: str, data_dir: str | os.PathLike[str], needed: Sequence[str]) -> tuple[Path, dict[str, Path]]:
    """``data_dir`` and its files; it must be a folder holding every file ``needed``."""
    pretty = _PRETTY[name]
    folder = Path(os.path.expanduser(os.fspath(data_dir)))
    if not folder.is_dir():
        raise DatasetError(
            f"{pretty}: data_dir {str(folder)!r} is not a folder", cli=f"{pretty}: --data-dir {folder} is not a folder"
        )
    files, missing = _find_files(folder, needed)
    if missing:
        lacks = ", ".join(m + "[.gz]" for m in missing)
        needs = f"{_needs(needed)}: {', '.join(needed)} (each gzipped or not)"
        raise DatasetError(
            f"{pretty}: data_dir {str(folder)!r} lacks {lacks}; it needs {needs}",
            cli=f"{pretty}: --data-dir {folder} lacks {lacks}; it needs {needs}",
        )
    return folder, files


def _env_folder(name: str, needed: Sequence[str], looked: list[Place]) -> tuple[Path, dict[str, Path]] | None:
    """The first ``$CHAINRULE_DATA`` folder (``<it>/<name>``, then itself) holding every file
    ``needed``, and its files; each one looked at in vain is noted in ``looked``."""
    env = os.environ.get("CHAINRULE_DATA", "")
    if not env:
        looked.append(Place("$CHAINRULE_DATA", None, "not set"))
        return None
    root = Path(os.path.expanduser(env))
    for folder in (root / name, root):
        files, missing = _find_files(folder, needed)
        if not missing:
            return folder, files
        looked.append(Place("$CHAINRULE_DATA", folder, _why_incomplete(folder, missing)))
    return None


class _Official(NamedTuple):
    source: str
    folder: Path
    files: dict[str, Path]
    checks: dict[str, FileCheck]
    arrays: dict[str, np.ndarray]  # each file's array, read once for checking and parsing


def _first_official(
    name: str, needed: Sequence[str], looked: list[Place], *, repair_cache: bool, kept: list[FileCheck] | None = None
) -> _Official | None:
    """The first of the cache and the read-only folders whose files ``needed`` all match the
    digests; each one that does not serve is noted in ``looked``. ``repair_cache``: delete the
    cache's files that fail and that chainrule downloaded (they would only fail again; a
    download replaces them); those failing that are not chainrule's to delete go to ``kept``."""
    for source, folder in [("cache", cache_dir(name)), *_read_only_folders(name)]:
        files, missing = _find_files(folder, needed)
        if missing:
            looked.append(Place(source, folder, _why_incomplete(folder, missing)))
            continue
        checks, arrays = _check_files(name, files)
        bad = [check for check in checks.values() if not check.ok]
        if not bad:
            return _Official(source, folder, files, checks, arrays)
        if source == "cache" and repair_cache:
            stays = [check for check in bad if not _remove_download(check)]
            if kept is not None:
                kept.extend(stays)
            removed = [check for check in bad if check not in stays]
            why = "; ".join(
                part
                for part in (
                    removed and f"removed: {_failures(removed)}",
                    stays and f"kept (not downloaded by chainrule): {_failures(stays)}",
                )
                if part
            )
            looked.append(Place(source, folder, f"failed verification, {why}"))
        else:
            looked.append(Place(source, folder, f"failed verification: {_failures(bad)}"))
    return None


def _remove_download(check: FileCheck) -> bool:
    """Delete a cache file that failed ``check`` when it is chainrule's to delete: read and found
    wrong (not merely unreadable), downloaded by chainrule (named in its folder's record), a
    regular file in a real cache folder (see :func:`~chainrule.datasets.cache.remove_own_file`).
    Returns whether it is gone."""
    path = check.path
    if not check.readable or path.name not in downloaded_here(path.parent):
        return False
    return remove_own_file(path)


def _kept_error(name: str, kept: Sequence[FileCheck]) -> DatasetError:
    """The error for cache files that fail verification and that chainrule may not delete."""
    paths = ", ".join(str(check.path) for check in kept)
    return DatasetError(
        f"{_PRETTY[name]}: {_failures(kept)}; chainrule did not download "
        f"{'this file' if len(kept) == 1 else 'these files'} and deletes only its own: "
        f"move {paths} away (or fix {'its' if len(kept) == 1 else 'their'} permissions) "
        "so that the official files can be downloaded"
    )


def _read_only_folders(name: str) -> list[tuple[str, Path]]:
    """(label, folder) of the verified folders chainrule reads but never writes: the cache of
    older versions where it differs from today's (:func:`legacy_cache_dir`), then :data:`SYSTEM_DIRS`."""
    legacy = legacy_cache_dir(name)
    folders = [("old cache", legacy)] if legacy is not None else []
    return folders + [("system", folder) for folder in SYSTEM_DIRS.get(name, ())]


def _find_files(folder: Path, needed: Sequence[str]) -> tuple[dict[str, Path], list[str]]:
    """Map each base name ``needed`` to its file in ``folder`` (``name.gz`` preferred over
    ``name``); and the base names that have none."""
    files: dict[str, Path] = {}
    missing: list[str] = []
    for base in needed:
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
    if not any(folder.iterdir()):
        return "empty"
    return "missing " + ", ".join(missing)


def _needs(needed: Sequence[str]) -> str:
    """How many files, and which, a load needs: "all four IDX files" or "the two test files"."""
    if len(needed) == len(IDX_FILES):
        return "all four IDX files"
    return f"the two {'test' if needed[0].startswith('t10k') else 'training'} files"


def _failures(bad: Sequence[FileCheck]) -> str:
    return "; ".join(
        check.detail if check.detail.startswith(str(check.path)) else f"{check.path.name}: {check.detail}"
        for check in bad
    )


def _not_found(
    name: str, needed: Sequence[str], looked: Sequence[Place], file: str | None = None, tried: Sequence[str] = ()
) -> DatasetNotFoundError:
    """The error for a data set in none of the places ``looked`` at, worded for Python; ``file``:
    the one no mirror delivered (``tried``: a line per mirror), None when no download was tried."""
    pretty = _PRETTY[name]
    if file is None:
        message = f"{pretty} not found and download=False."
    else:
        message = f"{pretty}: could not download {file}.gz from any mirror."
    if looked:
        message += "\nLooked in:\n" + "".join(f"  - {place}\n" for place in looked)
    else:
        message += "\n"
    if file is not None:
        message += "Tried:\n" + ("".join(f"  - {line}\n" for line in tried) or "  - (no mirrors configured)\n")
    message += _ways_out(name, needed)
    return DatasetNotFoundError(
        message,
        dataset=name,
        title=pretty,
        needed=needed,
        looked=looked,
        cache=cache_dir(name),
        failed_download=file,
        tried=tried,
    )


def _ways_out(name: str, needed: Sequence[str]) -> str:
    lines = [
        "Ways out:",
        f"  - pass data_dir= a folder holding {_needs(needed)} ({', '.join(needed)}, gzipped or not)",
        f"  - set $CHAINRULE_DATA to such a folder, or to a folder with a '{name}/' subfolder",
    ]
    if name == "fashion-mnist":
        lines.append("  - on Debian/Ubuntu: apt-get install dataset-fashion-mnist")
    lines.append(f"  - fetch the official .gz files elsewhere and copy them into {cache_dir(name)}")
    lines.append("  - or use load_spiral(), which needs no files")
    return "\n".join(lines)


def _load_user_folder(folder: Path, files: Mapping[str, Path]) -> dict[str, np.ndarray]:
    """Structural validation only. A complete folder is cached as .npz keyed by the folder and
    its files' stat(); one split's two files are parsed each time (they are the small ones)."""
    if len(files) != len(IDX_FILES):
        return idx.assemble({base: idx.read_idx(path).array for base, path in files.items()}, files)
    npz_path, stale_prefix = user_npz_path(folder, files)
    raw = read_npz(npz_path)
    if raw is not None:
        return raw
    raw = idx.assemble({base: idx.read_idx(path).array for base, path in files.items()}, files)
    write_npz(npz_path, raw)
    # Older conversions of this folder are stale by construction; don't let them pile up.
    remove_stale_npz(npz_path, stale_prefix)
    return raw


def _check_files(name: str, files: Mapping[str, Path]) -> tuple[dict[str, FileCheck], dict[str, np.ndarray]]:
    """Each file against ``DIGESTS[name]``; and the arrays of those that match. A file whose
    header declares another size than the official one is refused before it is inflated."""
    digests = DIGESTS[name]
    checks: dict[str, FileCheck] = {}
    arrays: dict[str, np.ndarray] = {}
    for base, path in files.items():
        digest = digests.get(base)
        try:
            content = idx.read_idx(path, expected_size=digest.size if digest is not None else None)
        except idx.IdxReadError as exc:
            checks[base] = FileCheck(path, False, str(exc), readable=False)
            continue
        except DatasetError as exc:
            checks[base] = FileCheck(path, False, str(exc))
            continue
        how = idx.digest_match(digest, content.gzip_md5, content)
        if how is None:
            detail = "digest does not match the official file"
            if digest is not None and digest.sha256 is None and content.gzip_md5 != digest.gzip_md5:
                detail += (
                    " (only the MD5 of the upstream .gz is on record for it: a recompressed or uncompressed "
                    "copy is used from data_dir= or $CHAINRULE_DATA, checked for structure only)"
                )
            checks[base] = FileCheck(path, False, detail)
            continue
        checks[base] = FileCheck(path, True, how)
        arrays[base] = content.array
    return checks, arrays


def _download_missing(
    name: str, needed: Sequence[str], progress: ProgressFactory | None, looked: Sequence[Place]
) -> dict[str, Path]:
    """Download every file ``needed`` that the cache folder lacks; return the paths of all ``needed``."""
    pretty = _PRETTY[name]
    cache = cache_dir(name)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"{pretty}: cannot create the cache folder {cache} ({exc.strerror or exc})") from exc
    files, missing = _find_files(cache, needed)
    for base in missing:
        dest = cache / (base + ".gz")
        try:
            download_from_mirrors(MIRRORS.get(name, ()), base + ".gz", dest, DIGESTS[name].get(base), progress=progress)
        except MirrorsFailed as exc:
            # The full story replaces the mirrors' summary, hence no chained exception.
            raise _not_found(name, needed, looked, base, exc.failures) from None
        note_download(cache, dest.name)
        files[base] = dest
    return files
