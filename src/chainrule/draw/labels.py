"""Label text: numbers as people write them, and label strings made safe and measured."""

from __future__ import annotations

import unicodedata
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


# Advance widths in em of DejaVu Sans (the font the PNG is drawn in and the SVG asks for first),
# rounded up to 0.01; Helvetica and Arial, the SVG's fallbacks, are narrower. Digits are all one
# width (0.64 em, "1" too), so a label of numbers is as wide as its count of digits says.
_CHAR_EM = {
    ch: em
    for em, chars in (
        (0.28, "'ijl"),
        (0.30, "IJ"),
        (0.32, " ,.·"),
        (0.34, "/:;\\|"),
        (0.37, "f-"),
        (0.40, "()[]t"),
        (0.41, "!²³"),
        (0.42, "r"),
        (0.46, '"'),
        (0.50, "*_`"),
        (0.53, "sz"),
        (0.54, "?"),
        (0.56, "cL"),
        (0.58, "Fk"),
        (0.60, "vxy"),
        (0.62, "PTYoae"),
        (0.64, "0123456789${}EΣSbdghnpquσ"),
        (0.66, "K"),
        (0.70, "AVXZBRC"),
        (0.74, "U"),
        (0.76, "NH"),
        (0.78, "DG&"),
        (0.79, "OQ"),
        (0.82, "w"),
        (0.84, "#+<=>^~×÷−"),
        (0.87, "M"),
        (0.96, "%"),
        (0.98, "m"),
        (0.99, "W"),
        (1.00, "@…"),
    )
    for ch in chars
}
_OTHER_EM = 0.70  # letters of other scripts, symbols: as wide as a capital
_WIDE_EM = 1.00  # East Asian wide and full-width characters


def text_width(text: str, size: float) -> float:
    """Width of ``text`` at font ``size`` in DejaVu Sans, from a table of its advance widths (no font
    needed); characters outside the table count as wide as a capital, East Asian ones as 1 em."""
    em = 0.0
    for ch in text:
        w = _CHAR_EM.get(ch)
        if w is None:
            w = _WIDE_EM if unicodedata.east_asian_width(ch) in "WF" else _OTHER_EM
        em += w
    return em * size
