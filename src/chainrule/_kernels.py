"""Speed helpers for the training path: row and column reductions and label positions.

Each computes what a one-line NumPy expression computes (named in its docstring), in a way
that is faster for the shapes training uses: a batch of 100 rows of 10 class scores, or of 50
hidden units. They are private because they assume validated 2-D input.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["column_sums", "label_positions", "row_max", "row_sums"]


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


def column_sums(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Σ over the rows of a 2-D array: (N, M) → (M,), i.e. ``a.sum(axis=0)``, into ``out`` if given.

    Computed as the matrix-vector product ``1ᵀ·a``: BLAS does it in about half the time of
    NumPy's row-by-row reduction, with smaller rounding error (blocked accumulation).
    """
    return np.matmul(_ones(a.shape[0], a.dtype), a, out=out)


def row_sums(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Σ over the columns of a 2-D array: (N, M) → (N,), i.e. ``a.sum(axis=1)``, as ``a·1``.

    NumPy's reduction along a short last axis pays a loop start per row; BLAS does not.
    """
    return np.matmul(a, _ones(a.shape[1], a.dtype), out=out)


def row_max(a: np.ndarray) -> np.ndarray:
    """Maximum of each row of a 2-D array: (N, C) → (N,), i.e. ``a.max(axis=1)``.

    With few columns (10 classes) NumPy's reduction along the last axis pays a loop start per
    row (400 µs for 10,000 × 10); reducing the transposed copy down its columns is vectorised
    across rows (65 µs, and 3 µs instead of 5.5 for a batch of 100). Wide rows reduce in place.
    """
    if a.shape[1] <= 16:
        return a.T.copy().max(axis=0)
    return a.max(axis=1)
