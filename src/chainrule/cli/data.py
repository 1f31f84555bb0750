"""``chainrule data``: which data sets are on this machine and where, their checks, and downloading them.

``list`` shows each data set with the folder it would be loaded from; ``path NAME`` prints that
folder (for scripts; exit status 2 when there is none); ``verify [NAME]`` checks the files that
would be used against the official digests (exit status 1 on a mismatch); ``download NAME``
puts the verified official files into the user cache, with a progress bar on a terminal. The
work is the library's (:func:`chainrule.datasets.locate`, :func:`chainrule.datasets.download_dataset`);
this module prints.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from chainrule.cli.options import UsageError, dataset_not_found
from chainrule.datasets import (
    DATASET_NAMES,
    DIGESTS,
    DatasetError,
    DatasetNotFoundError,
    Location,
    cache_dir,
    download_dataset,
    locate,
)

__all__ = ["register", "run"]

#: The data sets made of files (the others are generated).
FILE_DATASETS: tuple[str, ...] = tuple(name for name in DATASET_NAMES if name in DIGESTS)

_SOURCES = {
    "data_dir": "--data-dir",
    "$CHAINRULE_DATA": "$CHAINRULE_DATA",
    "cache": "user cache",
    "old cache": "old user cache",
    "system": "system folder",
}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "data",
        help="list, locate, verify and download the data sets",
        description=(
            "The data sets on this machine: where each would be loaded from (list, path), whether its files "
            "are the official ones (verify), and fetching them into the user cache (download)."
        ),
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser("list", help="each data set: found or not, where, how its files are checked")
    a.set_defaults(func=run)
    a = actions.add_parser("path", help="print the folder a data set would be loaded from (exit 2 if none)")
    a.add_argument("name", metavar="NAME", choices=DATASET_NAMES, help=", ".join(DATASET_NAMES))
    a.set_defaults(func=run)
    a = actions.add_parser(
        "verify", help="check the files that would be used against the official digests (exit 1 on a mismatch)"
    )
    a.add_argument(
        "name", metavar="NAME", nargs="?", choices=DATASET_NAMES, default=None, help="default: every data set"
    )
    a.add_argument("--data-dir", metavar="DIR", default=None, help="check the files in DIR instead (needs NAME)")
    a.set_defaults(func=run)
    a = actions.add_parser("download", help="download a data set's official files into the user cache, verified")
    a.add_argument("name", metavar="NAME", choices=FILE_DATASETS, help=", ".join(FILE_DATASETS))
    a.add_argument("--no-progress", action="store_true", help="no progress bar (none is shown off a terminal)")
    a.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    action = {"list": _list, "path": _path, "verify": _verify, "download": _download}[args.action]
    return action(args)


def _how(where: Location) -> str:
    """How the files of a location are trusted, in words."""
    source = _SOURCES[where.source]
    if where.converted:
        return f"{source}, converted copy only (made from verified files)"
    if where.official:
        return f"{source}, verified against the official digests"
    return f"{source}, checked for structure only"


def _notes(where: Location) -> list[str]:
    """Places passed over because their files are not the official ones: worth knowing about."""
    return [f"  note: {place}" for place in where.looked if place.why.startswith("failed verification")]


def _list(args: argparse.Namespace) -> int:
    rows = [("DATA SET", "FOLDER", "FILES")]
    notes: dict[str, list[str]] = {}
    for name in DATASET_NAMES:
        if name not in FILE_DATASETS:
            rows.append((name, "-", "built in (generated, no files)"))
            continue
        try:
            where = locate(name)
        except DatasetNotFoundError:
            rows.append((name, "-", f"not found; get it with: chainrule data download {name}"))
            continue
        rows.append((name, str(where.folder), _how(where)))
        notes[name] = _notes(where)
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}")
        for note in notes.get(row[0], ()):
            print(note)
    print(f"downloads go to {cache_dir()}")
    return 0


def _path(args: argparse.Namespace) -> int:
    if args.name not in FILE_DATASETS:
        raise UsageError(f"{args.name} is built in (generated); it has no folder")
    try:
        where = locate(args.name)
    except DatasetNotFoundError as exc:
        raise dataset_not_found(exc, data_dir_option=False) from None
    print(where.folder)
    return 0


def _verify(args: argparse.Namespace) -> int:
    if args.data_dir is not None and args.name is None:
        raise UsageError("--data-dir needs the NAME of the data set its files should be")
    if args.data_dir is not None and args.name not in FILE_DATASETS:
        raise UsageError(f"--data-dir applies to {', '.join(FILE_DATASETS)}; {args.name} is generated")
    names = [args.name] if args.name is not None else list(DATASET_NAMES)
    checked = mismatches = 0
    for name in names:
        if name not in FILE_DATASETS:
            print(f"{name}: built in, nothing to verify")
            continue
        try:
            where = locate(name, args.data_dir, check_digests=True)
        except DatasetNotFoundError as exc:
            if args.name is not None:
                raise dataset_not_found(exc, data_dir_option=False) from None
            print(f"{name}: not found, nothing to verify")
            continue
        print(f"{name}: {where.folder} ({_SOURCES[where.source]})")
        if where.converted:
            print("  converted copy only (made from verified files; the files themselves are gone)")
        width = max((len(check.path.name) for check in where.checks.values()), default=0)
        for check in where.checks.values():
            print(f"  {check.path.name:<{width}}  {'ok' if check.ok else 'MISMATCH'}  ({check.detail})")
        for note in _notes(where):
            print(note)
        checked += len(where.checks)
        mismatches += sum(not check.ok for check in where.checks.values())
    if mismatches:
        print(f"verification FAILED: {mismatches} of {checked} files do not match the official digests")
        return 1
    if checked:
        print(f"all {checked} files match the official digests")
    return 0


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f} MiB" if n_bytes >= 2**20 else f"{n_bytes / 2**10:.1f} KiB"


def _download(args: argparse.Namespace) -> int:
    progress = not args.no_progress and sys.stderr.isatty()  # a bar only where someone watches
    try:
        done = download_dataset(args.name, progress=progress)
    except DatasetNotFoundError as exc:
        error = dataset_not_found(exc, data_dir_option=False)
        try:
            where = locate(args.name)
        except DatasetError:
            raise error from None
        raise UsageError(f"{error}\nNote: {args.name} is on this machine all the same, in {where.folder}") from None
    for path in done.replaced:
        print(f"removed {path} (not the official file)")
    for path in done.downloaded:
        print(f"downloaded {path.name} ({_size(path.stat().st_size)}, verified)")
    if not done.downloaded:
        print(f"nothing to download: the {len(done.kept)} files were there and verified")
    print(f"{args.name} is in {done.folder}")
    return 0
