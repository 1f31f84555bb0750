"""Label text: numbers as people write them, and label strings made safe and measured."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule._checks import check_int

__all__ = ["DIGITS", "MAX_DIGITS", "check_digits", "clean_label", "format_number", "format_value", "text_width"]

#: Significant digits of the numbers on a drawing's labels, unless told otherwise.
DIGITS = 5
#: More than this says nothing more about a float64 (17 digits round-trip any of them).
MAX_DIGITS = 17


def check_digits(digits: Any, where: str) -> int:
    """``digits`` as an int when it is a whole number from 1 to :data:`MAX_DIGITS`; else ``ValueError``."""
    expected = f"an integer from 1 to {MAX_DIGITS}"
    if check_int(digits, "digits", where, expected=expected) > MAX_DIGITS:
        raise ValueError(f"{where}: digits must be {expected}, got {digits!r}")
    return int(digits)


def _strip_zeros(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_number(value: Any, digits: int = DIGITS) -> str:
    """A number rounded to ``digits`` significant digits, trailing zeros dropped.

    With the default 5: 3.3, 220, 0.19661 (for 0.1966119332...), 12346, 1e-8, -0.25, 1.2346e11.
    Plain decimals from 1e-4 up to 10**max(digits, 6), so a whole number such as 220 or 715
    keeps its digits even with ``digits=2``; powers of ten outside that range.
    """
    v = float(value)
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    mantissa, exp_text = f"{v:.{digits - 1}e}".split("e")  # rounds once, to `digits` digits
    exponent = int(exp_text)
    if -4 <= exponent < max(digits, 6):
        return _strip_zeros(f"{float(f'{mantissa}e{exponent}'):.{max(0, digits - 1 - exponent)}f}")
    return f"{_strip_zeros(mantissa)}e{exponent}"


def format_value(value: Any, max_items: int = 3, digits: int = DIGITS) -> str:
    """A short label for a number or an array, every number to ``digits`` significant digits.

    ``220``, ``0.19661``, ``[1, 0.5]``, ``[[1, 2], [3, 4]]``, ``(2,3) [0.12346, 0.2, 0.3, …]``:
    arrays of up to four entries in full, larger ones as their shape and first ``max_items`` entries.
    """
    a = np.asarray(value)
    if a.ndim == 0:
        return format_number(a, digits)
    if a.size <= 4 and a.ndim <= 2:
        if a.ndim == 1:
            return "[" + ", ".join(format_number(v, digits) for v in a) + "]"
        return "[" + ", ".join("[" + ", ".join(format_number(v, digits) for v in row) + "]" for row in a) + "]"
    shape = str(a.shape).replace(" ", "")
    flat = a.reshape(-1)
    head = ", ".join(format_number(v, digits) for v in flat[:max_items])
    return f"{shape} [{head}{', …' if a.size > max_items else ''}]"


def clean_label(text: str) -> str:
    """A label without control characters (XML cannot hold most of them)."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def text_width(text: str, size: float) -> float:
    """Estimated width of ``text`` in a sans-serif font (no font metrics needed, a little generous)."""
    narrow, wide = set(".,:;'!|il1 -()[]"), set("mwMW×÷…Σ@")
    em = sum(0.34 if ch in narrow else 0.9 if ch in wide else 0.62 for ch in text)
    return em * size
