"""What the subcommands share: the ``UsageError`` they raise, the argparse types of their
options and the command line's account of a missing data set.

Each option type parses the text, then checks the value with the library's own validators
(:mod:`chainrule._checks`), so a rule such as "a positive integer" is written once; the
message is the command line's: ``expected a positive integer, got '0'``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from chainrule._checks import AllocationTooLarge, check_fraction, check_int, check_real
from chainrule.datasets import IDX_FILES, DatasetError, DatasetNotFoundError, locate
from chainrule.models import MAX_INIT_STD

__all__ = [
    "UsageError",
    "too_large",
    "dataset_not_found",
    "folder",
    "non_negative_float",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "probability",
    "weight_init",
]


class UsageError(Exception):
    """A problem with the user's command line or files: printed as one line, exit status 2."""


def _number(text: str) -> float:
    """A finite float, else the one-line error "expected a (finite) number"."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _option_type(parse: Callable[[str], Any], check: Callable[[Any], Any], expected: str) -> Callable[[str], Any]:
    """An argparse type: ``parse`` the text, then ``check`` it; an out-of-range value (or text
    ``parse`` rejects with ValueError) says ``expected``."""

    def convert(text: str) -> Any:
        try:
            value = parse(text)
            check(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        return value

    return convert


positive_int = _option_type(int, lambda v: check_int(v, "value", "option"), "a positive integer")
non_negative_int = _option_type(int, lambda v: check_int(v, "value", "option", minimum=0), "an integer >= 0")
positive_float = _option_type(
    _number, lambda v: check_real(v, "value", "option", low=0.0, low_open=True), "a positive number"
)
non_negative_float = _option_type(_number, lambda v: check_real(v, "value", "option", low=0.0), "a number >= 0")
probability = _option_type(_number, lambda v: check_fraction(v, "value", "option"), "a number in [0, 1)")


def folder(text: str) -> str:
    """A folder's path: any text but an empty one (``--out ""`` would mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a folder, got {text!r} (write . for the current folder)")
    return text


def too_large(exc: AllocationTooLarge, options: dict[str, Any]) -> UsageError:
    """The command line's account of sizes that cannot fit: the size options typed, then the array and its memory."""
    typed = [
        f"--{name.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, (list, tuple)) else v}"
        for name, v in options.items()
        if v is not None
    ]
    return UsageError(f"{', '.join(typed) or 'these sizes'}: too large for this machine: {exc}")


def weight_init(text: str) -> str | float:
    """``he``, ``xavier`` or a positive standard deviation."""
    key = text.strip().lower()
    if key in ("he", "xavier"):
        return key
    try:
        return _init_std(text)
    except argparse.ArgumentTypeError:
        msg = f"expected 'he', 'xavier' or a positive std of at most {MAX_INIT_STD:g} such as 0.01, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


_init_std = _option_type(
    _number, lambda v: check_real(v, "value", "option", low=0.0, high=MAX_INIT_STD, low_open=True), "a std"
)


def dataset_not_found(
    exc: DatasetNotFoundError, *, switch_to: Sequence[str] = (), data_dir_option: bool = True
) -> UsageError:
    """The command line's account of a data set that is nowhere: one line saying what failed,
    then the ways out as options and commands to type, then where it looked and what it tried.

    ``switch_to``: data sets ``--dataset`` could name instead (one with files is offered only
    when it is found on this machine, with its folder); ``data_dir_option``: whether the command
    has ``--data-dir``. The library's message (``str(exc)``) speaks Python; this is built from
    the error's fields.
    """
    name, title = exc.dataset, exc.title
    if len(exc.needed) < len(IDX_FILES):  # one split's two files
        kind = "test" if exc.needed[0].startswith("t10k") else "training"
        what, verb, count = f"{title}'s {kind} files", "are", "two"
    else:
        what, verb, count = title, "is", "four"
    if exc.failed_download is None:
        head = f"{what} {verb} not on this machine"
    elif exc.looked:
        head = f"{what} {verb} not on this machine and could not be downloaded"
    else:  # `chainrule data download`: nothing was looked for, the download itself failed
        head = f"could not download {title}: no mirror delivered {exc.failed_download}.gz"

    ways: list[tuple[str, str]] = []
    holding = f"a folder holding the {count} files {', '.join(exc.needed)} (each may be gzipped)"
    if data_dir_option:
        ways.append(("--data-dir DIR", holding))
        ways.append(("export CHAINRULE_DATA=DIR", f"the same, for every command (or DIR/{name}/ holds them)"))
    else:
        ways.append(("export CHAINRULE_DATA=DIR", f"{holding}, or DIR/{name}/ holds them"))
    if name == "fashion-mnist":
        ways.append(("sudo apt-get install dataset-fashion-mnist", "on Debian and Ubuntu; found automatically"))
    download = f"chainrule data download {name}"
    if exc.failed_download is None:
        ways.append((download, f"fetches and verifies them into {exc.cache}"))
    elif exc.looked:
        ways.append((download, "where there is network; then copy the folder it prints to DIR"))
    else:
        ways.append(
            ("copy into the cache", f"the official .gz files, fetched where there is network, into {exc.cache}")
        )
    for other in switch_to:
        if other == "spiral":
            ways.append(("--dataset spiral", "built in, needs no files"))
            continue
        try:
            where = locate(other)
        except DatasetError:
            continue
        ways.append((f"--dataset {other}", f"found in {where.folder}"))

    width = max(len(way) for way, _ in ways)
    lines = [head, "Ways out:", *(f"  {way:<{width}}  {why}" for way, why in ways)]
    if exc.looked:
        lines += ["Looked in:", *(f"  {place}" for place in exc.looked)]
    if exc.failed_download is not None:
        lines += [f"Tried, for {exc.failed_download}.gz:", *(f"  {line}" for line in exc.tried or ["(no mirrors)"])]
    return UsageError("\n".join(lines))
