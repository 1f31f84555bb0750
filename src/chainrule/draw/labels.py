"""Label text: numbers as people write them, and label strings made safe and measured."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["clean_label", "format_number", "format_value", "text_width"]


def format_number(value: Any, digits: int = 10) -> str:
    """A number rounded to ``digits`` significant digits, trailing zeros dropped: 3.3, 220, 1e-8, -0.25."""
    v = float(value)
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    s = f"{v:.{digits}g}"
    if "e" in s:
        mantissa, exponent = s.split("e")
        s = f"{mantissa}e{int(exponent)}"
    return "0" if s == "-0" else s


def format_value(value: Any, max_items: int = 3, digits: int = 4) -> str:
    """A short label for a number (10 significant digits) or an array (``digits`` per entry).

    ``220``, ``[1, 0.5]``, ``[[1, 2], [3, 4]]``, ``(2,3) [0.1235, 0.2, 0.3, …]``: arrays of up to
    four entries in full, larger ones as their shape and first ``max_items`` entries.
    """
    a = np.asarray(value)
    if a.ndim == 0:
        return format_number(a)
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
