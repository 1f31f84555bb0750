"""Stateless numeric functions: activations, softmax, losses and the broadcasting helper.

Everything here is pure: no function writes into its arguments. Every function keeps the
floating dtype it is given (float32 in, float32 out).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from chainrule._checks import check_labels

__all__ = [
    "cross_entropy_error",
    "log_softmax",
    "relu",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
    "sum_to",
]


def sum_to(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` over the axes that broadcasting added or stretched, so it has ``shape``.

    This is the one place where broadcasting is undone: every binary node calls it.
    ``sum_to(np.ones((4, 3)), ())`` is ``12.0``; ``sum_to(g, (1, 4))`` keeps a length-1 axis.
    """
    grad_shape = np.shape(grad)
    if grad_shape == tuple(shape):
        return grad
    lead = len(grad_shape) - len(shape)
    if lead < 0:
        raise ValueError(f"sum_to: cannot reduce a gradient of shape {grad_shape} to the larger shape {shape}")
    axes = tuple(range(lead)) + tuple(
        lead + i for i, size in enumerate(shape) if size == 1 and grad_shape[lead + i] != 1
    )
    out = np.sum(grad, axis=axes, keepdims=True) if axes else np.asarray(grad)
    if lead:
        out = out.reshape(out.shape[lead:])
    if out.shape != tuple(shape):
        raise ValueError(f"sum_to: gradient of shape {grad_shape} does not broadcast from shape {shape}")
    return out


@lru_cache(maxsize=32)
def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    ones = np.ones(n, dtype=dtype)
    ones.flags.writeable = False  # shared between calls: nobody may write into it
    return ones


@lru_cache(maxsize=32)
def _row_starts(n: int, c: int) -> np.ndarray:
    starts = np.arange(0, n * c, c, dtype=np.intp)
    starts.flags.writeable = False  # shared between calls
    return starts


def label_positions(t: np.ndarray, c: int) -> np.ndarray:
    """Flat positions ``i·C + t[i]`` of each sample's label in a C-contiguous (N, C) array.

    ``a.reshape(-1)[label_positions(t, C)]`` picks (or, on the left of ``-=``, updates) the
    label entries with one-dimensional indexing, two to three times faster than
    ``a[np.arange(N), t]``. ``t`` holds validated class indices (N,).
    """
    if t.dtype != np.intp:
        t = t.astype(np.intp)  # uint64 + intp would give float64
    return _row_starts(t.shape[0], c) + t


def column_sums(a: np.ndarray) -> np.ndarray:
    """Σ over the rows of a 2-D array: (N, M) → (M,), i.e. ``a.sum(axis=0)``.

    Computed as the matrix-vector product ``1ᵀ·a``: BLAS does it in about half the time of
    NumPy's row-by-row reduction, with smaller rounding error (blocked accumulation).
    """
    return _ones(a.shape[0], a.dtype) @ a


def row_sums(a: np.ndarray) -> np.ndarray:
    """Σ over the columns of a 2-D array: (N, M) → (N,), i.e. ``a.sum(axis=1)``, as ``a·1``.

    NumPy's reduction along a short last axis pays a loop start per row; BLAS does not.
    """
    return a @ _ones(a.shape[1], a.dtype)


def row_max(a: np.ndarray) -> np.ndarray:
    """Maximum of each row of a 2-D array: (N, C) → (N,), i.e. ``a.max(axis=1)``.

    With few columns (10 classes) NumPy's reduction along the last axis pays a loop start per
    row (400 µs for 10,000 × 10); reducing the transposed copy down its columns is vectorised
    across rows (65 µs, and 3 µs instead of 5.5 for a batch of 100). Wide rows reduce in place.
    """
    if a.shape[1] <= 16:
        return a.T.copy().max(axis=0)
    return a.max(axis=1)


def sigmoid(x: Any) -> Any:
    """Logistic function 1 / (1 + exp(-x)), stable for any input (no overflow at ±1000)."""
    x = np.asarray(x)
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    # 1/(1+e) for x >= 0 and e/(1+e) for x < 0 are the same function written without exp(+|x|).
    out = np.where(x >= 0, 1, e) / (1 + e)
    return out.astype(e.dtype, copy=False)


def relu(x: Any) -> Any:
    """max(x, 0), elementwise, in x's dtype."""
    return np.maximum(x, 0)


def softmax(x: Any) -> np.ndarray:
    """Softmax over the last axis; stable for large inputs (the row maximum is subtracted)."""
    x = np.asarray(x)
    shifted = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(shifted)
    e /= np.sum(e, axis=-1, keepdims=True)
    return e


def log_softmax(x: Any) -> np.ndarray:
    """log(softmax(x)) over the last axis, computed without taking log of a rounded-off 0."""
    x = np.asarray(x)
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def _as_batch(y: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The book's convention: a single sample (C,) becomes a batch of one."""
    if y.ndim == 1:
        y = y.reshape(1, -1)
        t = t.reshape(1, -1) if t.ndim == 1 and t.size == y.shape[1] and t.size != 1 else t.reshape(-1)
    return y, t


def cross_entropy_error(y: Any, t: Any) -> float:
    """Mean cross-entropy of probabilities ``y`` (N, C) against labels ``t``.

    ``t`` is class indices (N,) or one-hot (N, C). A single sample may be given as y of shape
    (C,). Probabilities of exactly 0 are clipped to the dtype's smallest normal number, so the
    result is finite (never log(0)).
    """
    y = np.asarray(y)
    t = np.asarray(t)
    y, t = _as_batch(y, t)
    if y.ndim != 2:
        raise ValueError(f"cross_entropy_error: expected probabilities of shape (N, C), got y.shape={y.shape}")
    n, c = y.shape
    t = check_labels(t, n, c, "cross_entropy_error")
    tiny = np.finfo(y.dtype if y.dtype.kind == "f" else np.float64).tiny
    if t.ndim == 1:
        picked = y[np.arange(n), t]
        return float(-np.sum(np.log(np.maximum(picked, tiny))) / n)
    return float(-np.sum(t * np.log(np.maximum(y, tiny))) / n)


def softmax_cross_entropy(x: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray]:
    """Fused softmax and mean cross-entropy for scores ``x`` (N, C) and validated labels ``t``.

    Returns ``(loss, y)`` where ``y = softmax(x)``. The loss comes from the log-softmax, so it
    is exact even when a probability rounds to 0. One exp per entry; ``x`` is not modified.
    """
    n, c = x.shape
    y = x - row_max(x)[:, None]  # shifted scores (a fresh C-contiguous array); becomes y in place below
    if t.ndim == 1:
        picked = y.reshape(-1)[label_positions(t, c)]  # the labels' shifted scores, read before exp
        np.exp(y, out=y)
        total = row_sums(y)
        log_total = np.log(total)
        log_total -= picked  # −log p of each sample's label
        loss = float(log_total.sum()) / n
    else:
        log_p = y.copy()
        np.exp(y, out=y)
        total = row_sums(y)
        log_p -= np.log(total)[:, None]
        loss = -float(np.sum(t * log_p)) / n
    y /= total[:, None]
    return loss, y
