"""Stateless numeric functions: activations, softmax, losses and the broadcasting helper.

Everything here is pure: no function writes into its arguments. Every function keeps the
floating dtype it is given (float32 in, float32 out).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule._checks import as_float_array, check_labels
from chainrule._kernels import label_positions, row_max, row_sums

__all__ = [
    "cross_entropy_error",
    "identity_function",
    "log_softmax",
    "relu",
    "relu_grad",
    "sigmoid",
    "sigmoid_grad",
    "softmax",
    "softmax_cross_entropy",
    "softmax_loss",
    "step_function",
    "sum_squared_error",
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


# The rest of the book's common/functions.py (chapters 3 and 4): the activations before
# backprop, their derivatives written by hand, and the two losses of chapter 4.


def identity_function(x: Any) -> Any:
    """The output layer's identity (chapter 3.5): ``x`` itself."""
    return x


def step_function(x: Any) -> np.ndarray:
    """The step function of chapter 3.2.2: 1 where x > 0, else 0, as integers."""
    return np.array(np.asarray(x) > 0, dtype=int)


def sigmoid_grad(x: Any) -> Any:
    """The sigmoid's derivative at x: σ(x)·(1 − σ(x))."""
    y = sigmoid(x)
    return (1 - y) * y


def relu_grad(x: Any) -> np.ndarray:
    """ReLU's derivative at x as the book writes it: 1 where x >= 0 (the book's choice at 0), else 0."""
    x = np.asarray(x)
    return (x >= 0).astype(x.dtype if x.dtype.kind == "f" else np.float64)


def sum_squared_error(y: Any, t: Any) -> float:
    """The book's mean squared error (chapter 4.2.1): ½·Σ (y − t)², summed over everything."""
    return 0.5 * float(np.sum((np.asarray(y) - np.asarray(t)) ** 2))


def softmax_loss(X: Any, t: Any) -> float:
    """Cross-entropy of softmax(X) against labels ``t``, as the book's ``softmax_loss``."""
    return cross_entropy_error(softmax(X), t)


def _softmax_rows(
    x2: np.ndarray,
    positions: np.ndarray | None = None,
    keep_shifted: bool = False,
    out: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> tuple:
    """The one softmax: ``softmax``, ``log_softmax`` and the fused loss all call it.

    For scores ``x2`` (N, C), returns ``(y, total, shifted)``: ``y`` = softmax of each row (a
    fresh array, or ``out``), ``total`` (N,) = Σ exp(x − max) per row, and of the shifted
    scores x − max: those at the flat ``positions`` (the labels, read before ``exp`` can
    underflow them), or all of them as a copy when ``keep_shifted``, or their dot product with
    ``weights`` (N, C) (one-hot labels: Σ t·(x − max)), else None. One ``exp`` per entry, in place.
    """
    y = np.subtract(x2, row_max(x2)[:, None], out=out)  # shifted scores (C-contiguous); becomes y in place
    if positions is not None:
        shifted = y.reshape(-1)[positions]
    elif weights is not None:
        shifted = float(np.vdot(weights, y))
    else:
        shifted = y.copy() if keep_shifted else None
    np.exp(y, out=y)
    total = row_sums(y)
    y /= total[:, None]
    return y, total, shifted


def _rows(x: Any, where: str) -> np.ndarray:
    """Scores as rows (M, C) over the last axis (a scalar is one row of one class)."""
    x = as_float_array(x, where)
    if x.ndim and x.shape[-1] == 0:
        raise ValueError(f"{where}: expected at least one class along the last axis, got shape {x.shape}")
    return x.reshape(-1, x.shape[-1] if x.ndim else 1)


def softmax(x: Any) -> np.ndarray:
    """Softmax over the last axis, in x's shape and float dtype; stable for large inputs (the
    row maximum is subtracted before ``exp``)."""
    x = np.asarray(x)
    return _softmax_rows(_rows(x, "softmax"))[0].reshape(x.shape)


def log_softmax(x: Any) -> np.ndarray:
    """log(softmax(x)) over the last axis, computed as (x − max) − log Σ exp(x − max): never the
    log of a probability that rounded off to 0."""
    x = np.asarray(x)
    _, total, shifted = _softmax_rows(_rows(x, "log_softmax"), keep_shifted=True)
    shifted -= np.log(total)[:, None]
    return shifted.reshape(x.shape)


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
    if n == 0:  # the mean over no samples is 0/0
        raise ValueError(f"cross_entropy_error: expected at least one sample, got y.shape={y.shape}")
    t = check_labels(t, n, c, "cross_entropy_error")
    tiny = np.finfo(y.dtype if y.dtype.kind == "f" else np.float64).tiny
    if t.ndim == 1:
        picked = y[np.arange(n), t]
        return float(-np.sum(np.log(np.maximum(picked, tiny))) / n)
    return float(-np.sum(t * np.log(np.maximum(y, tiny))) / n)


def softmax_cross_entropy(x: np.ndarray, t: np.ndarray, *, out: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Fused softmax and mean cross-entropy for scores ``x`` (N, C) and validated labels ``t``.

    Returns ``(loss, y)`` where ``y = softmax(x)``. The loss comes from the log-softmax,
    ``−Σ t·(x − max − log Σ exp(x − max)) / N``, so it is exact even when a probability rounds
    to 0. For one-hot (or probability) rows it is computed as
    ``(Σᵢ (Σⱼ tᵢⱼ)·log Σ exp(xᵢ − maxᵢ) − Σᵢⱼ tᵢⱼ·(xᵢⱼ − maxᵢ)) / N``: two dot products
    instead of an (N, C) log-probability array. One exp per entry; ``x`` is not modified.
    ``out`` (N, C) receives y when given (a layer's workspace).
    """
    n, c = x.shape
    if n == 0:  # the mean over no samples is 0/0
        raise ValueError(f"softmax_cross_entropy: expected at least one sample, got x.shape={x.shape}")
    if t.ndim == 1:
        y, total, picked = _softmax_rows(x, positions=label_positions(t, c), out=out)
        log_total = np.log(total)
        log_total -= picked  # −log p of each sample's label
        loss = float(log_total.sum()) / n
    else:
        y = np.subtract(x, row_max(x)[:, None], out=out)  # the shifted scores, before exp
        label_scores = float(np.vdot(t, y))  # Σ t·(x − max), read before exp overwrites y
        np.exp(y, out=y)
        total = row_sums(y)
        y /= total[:, None]
        loss = (
            float(np.dot(row_sums(t) if t.dtype == total.dtype else t.sum(axis=1), np.log(total))) - label_scores
        ) / n
    return loss, y
