"""Loss and accuracy of a model on a whole data set, evaluated in batches."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule._checks import check_int, check_labels
from chainrule.functions import softmax_cross_entropy

__all__ = ["DEFAULT_EVAL_BATCH", "evaluate"]

#: Rows evaluated at once when measuring loss and accuracy on a whole set.
DEFAULT_EVAL_BATCH = 10_000


def evaluate(model: Any, x: Any, t: Any, *, batch_size: int = DEFAULT_EVAL_BATCH) -> tuple[float, float]:
    """``(loss, accuracy)`` of ``model`` on the whole of ``(x, t)``, ``batch_size`` rows at a time.

    ``loss`` is the mean cross-entropy of the softmax of ``model.predict`` (eval mode; any
    weight-decay term is not included), ``accuracy`` the fraction of rows whose top score is
    the label. ``t`` holds class indices (N,) or one-hot rows (N, C). Both are NaN when a
    score is NaN (weights that hold NaN): such a model has no top class to count.
    """
    x = np.asarray(x)
    t = np.asarray(t)
    n = x.shape[0] if x.ndim else 0
    if n == 0:
        raise ValueError("evaluate: x holds no samples")
    if t.shape[:1] != (n,):
        raise ValueError(f"evaluate: expected {n} labels to match x, got t.shape={t.shape}")
    check_int(batch_size, "batch_size", "evaluate")
    total_loss = 0.0
    correct = 0
    for start in range(0, n, batch_size):
        scores = np.asarray(model.predict(x[start : start + batch_size]))
        tb = check_labels(t[start : start + batch_size], scores.shape[0], scores.shape[1], "evaluate")
        loss, _ = softmax_cross_entropy(scores, tb)
        if np.isnan(loss):  # a NaN score makes its row's loss NaN; argmax would call it class 0
            return float("nan"), float("nan")
        labels = tb if tb.ndim == 1 else np.argmax(tb, axis=1)
        total_loss += loss * scores.shape[0]
        correct += int(np.count_nonzero(np.argmax(scores, axis=1) == labels))
    return total_loss / n, correct / n
