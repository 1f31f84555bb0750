"""What the subcommands share: the ``UsageError`` they raise and the argparse types of their options.

Each option type parses the text, then checks the value with the library's own validators
(:mod:`chainrule._checks`), so a rule such as "a positive integer" is written once; the
message is the command line's: ``expected a positive integer, got '0'``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from chainrule._checks import check_fraction, check_int, check_real

__all__ = [
    "UsageError",
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


def weight_init(text: str) -> str | float:
    """``he``, ``xavier`` or a positive standard deviation."""
    key = text.strip().lower()
    if key in ("he", "xavier"):
        return key
    try:
        return positive_float(text)
    except argparse.ArgumentTypeError:
        msg = f"expected 'he', 'xavier' or a positive std such as 0.01, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
