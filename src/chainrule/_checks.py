"""Validation helpers shared by the public boundary of every module.

Each helper raises an exception whose message names the caller (``where``), the expected
value and the actual one, so a user can fix the call without reading chainrule's code.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

__all__ = ["as_float_array", "check_labels", "require_forward", "shape_of"]


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


def check_labels(t: Any, n: int, n_classes: int, where: str) -> np.ndarray:
    """Validate labels for ``n`` samples of ``n_classes`` classes and return them as an array.

    Labels are class indices of shape ``(n,)`` (integers in ``[0, n_classes)``) or one-hot /
    probability rows of shape ``(n, n_classes)`` with values in ``[0, 1]``; the form is decided
    by ``ndim``, never guessed from the size.
    """
    t = np.asarray(t)
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
        if t.size and (not np.all(np.isfinite(t)) or t.min() < 0 or t.max() > 1):
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
