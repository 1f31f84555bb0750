"""Validation helpers shared by the public boundary of every module.

Each helper raises an exception whose message names the caller (``where``), the expected
value and the actual one, so a user can fix the call without reading chainrule's code.
``is_int`` / ``is_real`` are the one place that says which Python and NumPy scalars count as
integers and real numbers (``True`` is neither).
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import numpy as np

__all__ = [
    "FLOAT_DTYPES",
    "AllocationTooLarge",
    "check_allocation",
    "physical_memory",
    "as_float_array",
    "check_bool",
    "check_float_dtype",
    "check_fraction",
    "check_int",
    "check_labels",
    "check_real",
    "check_real_input",
    "is_int",
    "is_real",
    "require_forward",
    "shape_of",
]

#: The floating dtypes networks are built in.
FLOAT_DTYPES: tuple[np.dtype, ...] = (np.dtype(np.float32), np.dtype(np.float64))


def is_int(value: Any) -> bool:
    """An integer scalar (Python or NumPy), booleans excluded."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    """A real scalar (Python or NumPy integer or float), booleans excluded."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def check_int(value: Any, name: str, where: str, *, minimum: int = 1, expected: str | None = None) -> int:
    """``value`` as an int when it is an integer >= ``minimum``; else ``ValueError``.

    The message says ``{where}: {name} must be {expected}, got {value!r}``; ``expected`` defaults
    to "a positive integer" (minimum 1), "an integer >= 0" (minimum 0) or "an integer >= m".
    """
    if not is_int(value) or value < minimum:
        if expected is None:
            expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{where}: {name} must be {expected}, got {value!r}")
    return int(value)


def check_real(
    value: Any,
    name: str,
    where: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    expected: str | None = None,
) -> float:
    """``value`` as a float when it is a finite real number in the given range; else ``ValueError``.

    ``low``/``high`` bound the range (closed unless ``low_open``/``high_open``). Messages:
    "must be a real number", then "must be finite", "must be a positive number" (low 0, open),
    "must be >= L", "must be <= H" or "must lie in [L, H)" — or "must be {expected}" for a
    non-finite or out-of-range value when ``expected`` is given.
    """
    if not is_real(value):
        raise ValueError(f"{where}: {name} must be a real number, got {value!r}")
    number = float(value)
    if expected is not None and not np.isfinite(number):
        raise ValueError(f"{where}: {name} must be {expected}, got {value!r}")
    if not np.isfinite(number):
        raise ValueError(f"{where}: {name} must be finite, got {value!r}")
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if too_low or too_high:
        if expected is not None:
            raise ValueError(f"{where}: {name} must be {expected}, got {value!r}")
        if low is not None and high is not None:
            rule = f"lie in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        elif low is not None:
            rule = "be a positive number" if low == 0 and low_open else f"be {'>' if low_open else '>='} {low:g}"
        else:
            rule = f"be {'<' if high_open else '<='} {high:g}"
        raise ValueError(f"{where}: {name} must {rule}, got {value!r}")
    return number


def check_fraction(value: Any, name: str, where: str, *, closed: bool = False) -> float:
    """A real number in [0, 1) (or [0, 1] when ``closed``), as float."""
    return check_real(value, name, where, low=0.0, high=1.0, high_open=not closed)


def check_bool(value: Any, name: str, where: str) -> bool:
    """``value`` when it is True or False (Python or NumPy); else ``ValueError``."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{where}: {name} must be True or False, got {value!r}")
    return bool(value)


def check_float_dtype(dtype: Any, where: str, *, allowed: tuple[np.dtype, ...] | None = FLOAT_DTYPES) -> np.dtype:
    """``dtype`` as a NumPy floating dtype: one of ``allowed`` (float32, float64), or any float if None."""
    expected = "float32 or float64" if allowed == FLOAT_DTYPES else "a floating-point type"
    try:
        result = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"{where}: dtype must be {expected}, got {dtype!r}") from exc
    if result.kind != "f" or (allowed is not None and result not in allowed):
        raise ValueError(f"{where}: dtype must be {expected}, got {result}")
    return result


class AllocationTooLarge(ValueError):
    """An array refused before it is allocated because it cannot fit in this machine's memory.

    ``what`` names the array, ``nbytes`` is what it would need, ``limit`` the memory there is.
    """

    def __init__(self, what: str, nbytes: int, limit: int) -> None:
        self.what, self.nbytes, self.limit = what, nbytes, limit
        super().__init__(
            f"{what} would need {_bytes(nbytes)}, more than the {_bytes(limit)} of memory this machine has"
        )


def _bytes(n: int) -> str:
    # as _files' sizes read (1.5 GiB), with TiB: _files sits on this module's level, so it is not imported
    for unit, scale in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


@cache
def physical_memory() -> int | None:
    """This machine's physical memory in bytes (None where the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return None


def check_allocation(nbytes: int, what: str, *, limit: int | None = None) -> None:
    """Raise :class:`AllocationTooLarge` when ``nbytes`` exceed ``limit`` (default: physical memory)."""
    limit = physical_memory() if limit is None else limit
    if limit is not None and nbytes > limit:
        raise AllocationTooLarge(what, int(nbytes), limit)


def shape_of(value: Any) -> tuple[int, ...]:
    """Shape of an array or a Python number (``()`` for scalars)."""
    return tuple(np.shape(value))


def as_float_array(value: Any, where: str, name: str = "x") -> np.ndarray:
    """Return ``value`` as a floating-point ndarray, without copying when it already is one.

    Integer and boolean inputs become float64 (as NumPy's own arithmetic would); complex or
    object input is rejected.
    """
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        return arr
    if arr.dtype.kind in "biu":
        return arr.astype(np.float64)
    raise TypeError(f"{where}: expected {name} to hold real numbers, got dtype {arr.dtype}")


def check_real_input(value: Any, where: str, name: str = "x") -> None:
    """``TypeError`` unless ``value`` (an array or a number) holds real numbers: bool, int or float.

    A dtype check only (no pass over the data); complex input would otherwise flow through a
    layer silently (a complex product, or a comparison NumPy refuses deep inside).
    """
    dtype = value.dtype if isinstance(value, np.ndarray) else np.asarray(value).dtype
    if dtype.kind not in "biuf":
        raise TypeError(f"{where}: expected {name} to hold real numbers, got dtype {dtype}")


def check_labels(t: Any, n: int, n_classes: int, where: str) -> np.ndarray:
    """Validate labels for ``n`` samples of ``n_classes`` classes and return them as an array.

    Labels are class indices of shape ``(n,)`` (integers in ``[0, n_classes)``; an integer column
    ``(n, 1)`` counts as such when there is more than one class) or one-hot / probability rows of
    shape ``(n, n_classes)`` with values in ``[0, 1]``; the form is decided by the shape and
    dtype, never guessed from the size.
    """
    t = np.asarray(t)
    if t.ndim == 2 and t.shape == (n, 1) and n_classes > 1 and t.dtype.kind in "iu":
        t = t.reshape(n)  # a column of class indices (the book writes t = np.array([1]).reshape((1, 1)))
    if t.ndim == 1:
        if t.shape[0] != n:
            raise ValueError(f"{where}: expected {n} labels to match the batch, got t.shape={t.shape}")
        if t.dtype.kind not in "iu":
            raise ValueError(
                f"{where}: class-index labels must be integers, got dtype {t.dtype} "
                f"(pass one-hot labels as an ({n}, {n_classes}) array)"
            )
        # One pass over the labels: read as unsigned, a negative label is huge, so the maximum
        # alone catches both ends.
        if n and int((t.view(_unsigned(t.dtype)) if t.dtype.kind == "i" else t).max()) >= n_classes:
            lo = int(t.min())
            bad = lo if lo < 0 else int(t.max())
            raise ValueError(f"{where}: labels must lie in [0, {n_classes - 1}] for {n_classes} classes, got {bad}")
        return t
    if t.ndim == 2:
        if t.shape != (n, n_classes):
            raise ValueError(
                f"{where}: one-hot labels must have shape ({n}, {n_classes}) to match the scores, got t.shape={t.shape}"
            )
        if t.dtype.kind not in "biuf":
            raise ValueError(f"{where}: one-hot labels must be numeric, got dtype {t.dtype}")
        # min and max propagate NaN, and a comparison with NaN is False: two passes check all.
        if t.size and not (t.min() >= 0 and t.max() <= 1):
            raise ValueError(f"{where}: one-hot labels must lie in [0, 1], got values in [{t.min()}, {t.max()}]")
        return t
    raise ValueError(
        f"{where}: labels must be class indices of shape ({n},) or one-hot of shape ({n}, {n_classes}), "
        f"got t.shape={t.shape}"
    )


@cache
def _unsigned(dtype: np.dtype) -> np.dtype:
    """The unsigned integer dtype of the same size and byte order ('<i8' → '<u8')."""
    return np.dtype(dtype.str.replace("i", "u"))


def require_forward(layer: object, *attrs: str) -> None:
    """Raise ``RuntimeError`` when ``backward`` is called before ``forward`` on ``layer``."""
    for attr in attrs:
        if getattr(layer, attr, None) is None:
            raise RuntimeError(f"{type(layer).__name__}: backward() called before forward()")
