"""The book's conventions for the arrays a loader returns: one-hot labels, scaled and shaped images."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from chainrule._rng import as_generator

__all__ = ["Split", "check_split", "one_hot", "shuffle_dataset", "to_book_format"]

#: One split of a data set: ``(x, t)``.
Split = tuple[np.ndarray, np.ndarray]


def check_split(split: Any, func: str) -> None:
    """``split`` must be None (both splits), "train" or "test"; else ``ValueError`` naming ``func``."""
    if split is not None and split not in ("train", "test"):
        raise ValueError(f"{func}: split must be 'train', 'test' or None (both), got {split!r}")


def one_hot(t: np.ndarray, n_classes: int, dtype: np.dtype) -> np.ndarray:
    """Class indices ``t`` ``(N,)`` as one-hot rows ``(N, n_classes)`` in ``dtype``."""
    out = np.zeros((t.shape[0], n_classes), dtype=dtype)
    out[np.arange(t.shape[0]), t] = 1
    return out


def to_book_format(
    raw: Mapping[str, np.ndarray], normalize: bool, flatten: bool, one_hot_label: bool, dtype: np.dtype
) -> tuple[Split, Split] | Split:
    """``(x_train, t_train), (x_test, t_test)`` from the raw uint8 arrays x_* ``(N, rows, cols)``, t_* ``(N,)``;
    just ``(x, t)`` when ``raw`` holds one split.

    x: ``(N, rows*cols)`` when ``flatten``, else ``(N, 1, rows, cols)``; in ``dtype`` scaled to
    [0, 1] when ``normalize``, else uint8. t: int64 ``(N,)``, or one-hot ``(N, C)`` in ``dtype``
    with C = max(10, largest label + 1). ``dtype`` must be a float dtype when it is used.
    """
    splits = [split for split in ("train", "test") if f"x_{split}" in raw]
    n_classes = max(10, max(int(raw[f"t_{split}"].max(initial=0)) for split in splits) + 1)
    out: list[Split] = []
    for split in splits:
        x, t = raw[f"x_{split}"], raw[f"t_{split}"].astype(np.int64)
        if normalize:
            x = x.astype(dtype)
            x /= dtype.type(255.0)  # the book's x / 255.0; division keeps 255 exactly at 1.0
        x = x.reshape(x.shape[0], -1) if flatten else x.reshape(x.shape[0], 1, *x.shape[1:])
        if one_hot_label:
            t = one_hot(t, n_classes, dtype)
        out.append((x, t))
    return out[0] if len(out) == 1 else (out[0], out[1])


def shuffle_dataset(x: Any, t: Any, *, seed: int | np.random.Generator | None = None) -> Split:
    """``(x, t)`` with their samples in one random order, as the book's ``shuffle_dataset``.

    ``x`` (N, ...) and ``t`` (N,) or (N, C) keep their pairing; new arrays. ``seed``: int,
    Generator or None (drawn from NumPy's global generator, so ``np.random.seed`` applies).
    """
    x, t = np.asarray(x), np.asarray(t)
    if x.ndim == 0 or t.ndim == 0 or x.shape[0] != t.shape[0]:
        raise ValueError(f"shuffle_dataset: x and t must hold the same number of samples, got {x.shape} and {t.shape}")
    order = as_generator(seed).permutation(x.shape[0])
    return x[order], t[order]
