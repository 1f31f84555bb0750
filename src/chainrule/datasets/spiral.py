"""The built-in 2-D spiral data set: generated, so it needs no files and no network."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule._checks import check_float_dtype, check_int, check_real
from chainrule._rng import as_generator
from chainrule.datasets.convert import Split, one_hot

__all__ = ["load_spiral"]


def load_spiral(
    n_per_class: int = 100,
    n_classes: int = 3,
    *,
    seed: int | np.random.Generator | None = 0,
    one_hot_label: bool = False,
    dtype: Any = np.float32,
    test_fraction: float = 0.2,
) -> tuple[Split, Split]:
    """Built-in 2-D spiral data set (CS231n style): ``n_classes`` interleaved noisy arms.

    Point i of arm j lies at radius r = i / (n_per_class - 1) and angle
    4j + 4r + 0.2·noise; a 2-100-3 ReLU network fits it to ~99 % train accuracy.
    Each class is split on its own (stratified): ``round(test_fraction · n_per_class)``
    points (at least one) go to the test set; both sets are shuffled. Deterministic for a
    given integer ``seed``.

    Returns ``(x_train, t_train), (x_test, t_test)``: x ``(N, 2)`` in ``dtype`` (float32),
    t ``(N,)`` int64, or ``(N, n_classes)`` one-hot in ``dtype``.
    """
    n_per_class = check_int(n_per_class, "n_per_class", "load_spiral", minimum=2, expected="an integer >= 2")
    n_classes = check_int(n_classes, "n_classes", "load_spiral", minimum=2, expected="an integer >= 2")
    check_real(test_fraction, "test_fraction", "load_spiral", low=0.0, high=1.0, low_open=True, high_open=True)
    dtype = check_float_dtype(dtype, "load_spiral", allowed=None)
    rng = as_generator(seed)
    n_test = min(n_per_class - 1, max(1, round(test_fraction * n_per_class)))

    r = np.linspace(0.0, 1.0, n_per_class)
    train_idx, test_idx = [], []
    x = np.empty((n_per_class * n_classes, 2), dtype=np.float64)
    t = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    for j in range(n_classes):
        theta = np.linspace(4.0 * j, 4.0 * (j + 1), n_per_class) + 0.2 * rng.standard_normal(n_per_class)
        rows = slice(j * n_per_class, (j + 1) * n_per_class)
        x[rows, 0] = r * np.sin(theta)
        x[rows, 1] = r * np.cos(theta)
        order = j * n_per_class + rng.permutation(n_per_class)
        test_idx.append(order[:n_test])
        train_idx.append(order[n_test:])
    train = rng.permutation(np.concatenate(train_idx))
    test = rng.permutation(np.concatenate(test_idx))
    x = x.astype(dtype)
    t_train, t_test = t[train], t[test]
    if one_hot_label:
        t_train, t_test = one_hot(t_train, n_classes, dtype), one_hot(t_test, n_classes, dtype)
    return (x[train], t_train), (x[test], t_test)
