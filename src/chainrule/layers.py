"""The layers of chapter 5: each a node with ``forward`` and a hand-called ``backward``.

Conventions (the house style):
- ``backward`` never writes into its arguments or its cached inputs; it returns new arrays
  (or passes ``dout`` through unchanged where the local derivative is 1).
- every ``backward`` multiplies by its upstream gradient ``dout``, loss layers included;
- the forward cache lives in underscore attributes, and ``backward`` before ``forward`` raises
  ``RuntimeError`` naming the layer;
- a gradient returned for an input has that input's shape (broadcasting undone by ``sum_to``);
- layers keep the floating dtype they are given.

Layers with parameters expose them as ``params`` and their gradients as ``grads`` (name → array),
which is how ``gradient_check`` and the optimizers find them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule._checks import check_labels, require_forward, shape_of
from chainrule.functions import sigmoid, softmax_cross_entropy, sum_to

__all__ = ["AddLayer", "Affine", "MulLayer", "Relu", "Sigmoid", "SoftmaxWithLoss", "Tanh"]


class MulLayer:
    """Multiply node z = x * y (any shapes that broadcast, or Python numbers).

    backward(dout) returns ``(dout * y, dout * x)`` — the inputs swapped — each summed back
    to its input's shape.
    """

    def __init__(self) -> None:
        self._x: Any = None
        self._y: Any = None

    def forward(self, x: Any, y: Any) -> Any:
        self._x, self._y = x, y
        return x * y

    def backward(self, dout: Any) -> tuple[Any, Any]:
        require_forward(self, "_x", "_y")
        dx = sum_to(dout * self._y, shape_of(self._x))
        dy = sum_to(dout * self._x, shape_of(self._y))
        return dx, dy


class AddLayer:
    """Add node z = x + y. backward(dout) passes ``dout`` to both inputs (summed to their shapes)."""

    def __init__(self) -> None:
        self._x_shape: tuple[int, ...] | None = None
        self._y_shape: tuple[int, ...] | None = None

    def forward(self, x: Any, y: Any) -> Any:
        self._x_shape, self._y_shape = shape_of(x), shape_of(y)
        return x + y

    def backward(self, dout: Any) -> tuple[Any, Any]:
        require_forward(self, "_x_shape", "_y_shape")
        return sum_to(dout, self._x_shape), sum_to(dout, self._y_shape)


class Relu:
    """ReLU y = max(x, 0). Remembers the mask of ``x <= 0``; backward zeroes ``dout`` there.

    Shapes: any; dx has x's shape.
    """

    def __init__(self) -> None:
        self._mask: np.ndarray | None = None

    def forward(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        self._mask = x <= 0
        return np.maximum(x, 0)

    def backward(self, dout: Any) -> np.ndarray:
        require_forward(self, "_mask")
        dout = np.asarray(dout)
        if dout.shape != self._mask.shape:
            raise ValueError(f"Relu: expected dout of shape {self._mask.shape}, got {dout.shape}")
        return np.where(self._mask, 0, dout)  # a new array: the caller's dout is untouched


class Sigmoid:
    """Sigmoid y = 1 / (1 + exp(-x)), stable at any input. backward: ``dout * y * (1 - y)``."""

    def __init__(self) -> None:
        self._out: np.ndarray | None = None

    def forward(self, x: Any) -> np.ndarray:
        self._out = sigmoid(x)
        return self._out

    def backward(self, dout: Any) -> np.ndarray:
        require_forward(self, "_out")
        y = self._out
        if np.shape(dout) != y.shape:
            raise ValueError(f"Sigmoid: expected dout of shape {y.shape}, got {np.shape(dout)}")
        return dout * (y * (1 - y))


class Tanh:
    """Hyperbolic tangent y = tanh(x). backward: ``dout * (1 - y²)``."""

    def __init__(self) -> None:
        self._out: np.ndarray | None = None

    def forward(self, x: Any) -> np.ndarray:
        self._out = np.tanh(x)
        return self._out

    def backward(self, dout: Any) -> np.ndarray:
        require_forward(self, "_out")
        y = self._out
        if np.shape(dout) != y.shape:
            raise ValueError(f"Tanh: expected dout of shape {y.shape}, got {np.shape(dout)}")
        return dout * (1 - y * y)


class Affine:
    """Fully connected layer y = x·W + b.

    Shapes: x (N, D) or (N, d1, d2, ...) flattened to D; W (D, M); b (M,) → y (N, M).
    backward(dout) returns dx in x's shape and stores ``dW = xᵀ·dout`` and ``db = Σ_N dout``.
    ``W`` and ``b`` are used by reference: updating them in place updates the layer.
    """

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        W = np.asarray(W)
        b = np.asarray(b)
        if W.ndim != 2 or W.dtype.kind != "f":
            raise ValueError(f"Affine: W must be a 2-D floating array (D, M), got shape {W.shape}, dtype {W.dtype}")
        if b.shape != (W.shape[1],) or b.dtype.kind != "f":
            raise ValueError(
                f"Affine: b must be a floating array of shape ({W.shape[1]},) to match W {W.shape}, "
                f"got shape {b.shape}, dtype {b.dtype}"
            )
        self.W = W
        self.b = b
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None
        self._x: np.ndarray | None = None
        self._x_shape: tuple[int, ...] | None = None

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {"W": self.W, "b": self.b}

    @property
    def grads(self) -> dict[str, np.ndarray | None]:
        return {"W": self.dW, "b": self.db}

    def forward(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim < 2:
            raise ValueError(
                f"Affine: expected a batch of shape (N, {self.W.shape[0]}) or (N, d1, d2, ...), got x.shape={x.shape}"
            )
        x2 = x.reshape(x.shape[0], -1)
        if x2.shape[1] != self.W.shape[0]:
            raise ValueError(
                f"Affine: expected {self.W.shape[0]} input features, got {x2.shape[1]} (x.shape={x.shape})"
            )
        self._x, self._x_shape = x2, x.shape
        out = x2 @ self.W
        out += self.b  # out is a fresh array: adding in place saves a temporary
        return out

    def backward(self, dout: Any, *, input_grad: bool = True) -> np.ndarray | None:
        """Store dW, db and return dx; ``input_grad=False`` skips dx (the first layer of a net
        needs no gradient for its data, and dx costs as much as dW) and returns None."""
        require_forward(self, "_x")
        dout = np.asarray(dout)
        expected = (self._x.shape[0], self.W.shape[1])
        if dout.shape != expected:
            raise ValueError(f"Affine: expected dout of shape {expected}, got {dout.shape}")
        self.dW = self._x.T @ dout
        self.db = dout.sum(axis=0)
        if not input_grad:
            return None
        return (dout @ self.W.T).reshape(self._x_shape)


class SoftmaxWithLoss:
    """Softmax followed by the mean cross-entropy error over the batch.

    forward(x, t): scores x (N, C); labels t as class indices (N,) or one-hot (N, C) → loss.
    backward(dout=1) returns ``dout * (y - t) / N`` of shape (N, C).
    After forward, ``y`` holds the softmax probabilities and ``loss`` the loss.
    """

    def __init__(self) -> None:
        self.loss: float | None = None
        self.y: np.ndarray | None = None
        self.t: np.ndarray | None = None

    def forward(self, x: Any, t: Any) -> float:
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"SoftmaxWithLoss: expected scores of shape (N, C), got x.shape={x.shape}")
        if x.dtype.kind != "f":
            x = x.astype(np.float64)
        t = check_labels(t, x.shape[0], x.shape[1], "SoftmaxWithLoss")
        self.loss, self.y = softmax_cross_entropy(x, t)
        self.t = t
        return self.loss

    def backward(self, dout: Any = 1) -> np.ndarray:
        require_forward(self, "y")
        if np.ndim(dout) != 0:
            raise ValueError(f"SoftmaxWithLoss: dout must be a scalar (the loss is), got shape {np.shape(dout)}")
        n = self.y.shape[0]
        scale = dout / n
        if self.t.ndim == 1:
            dx = self.y.copy()
            dx[np.arange(n), self.t] -= 1
        else:
            dx = self.y - self.t.astype(self.y.dtype, copy=False)
        dx *= scale
        return dx
