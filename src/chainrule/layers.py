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
which is how ``gradient_check`` and the optimizers find them; ``grad_attrs`` names the attribute
that holds each gradient (``W`` → ``dW``), which networks read directly on the training path.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from chainrule._checks import as_float_array, check_labels, require_forward, shape_of
from chainrule._rng import as_generator
from chainrule.functions import column_sums, label_positions, sigmoid, softmax_cross_entropy, sum_to

__all__ = [
    "AddLayer",
    "Affine",
    "BatchNormalization",
    "Dropout",
    "MulLayer",
    "Relu",
    "Sigmoid",
    "SoftmaxWithLoss",
    "Tanh",
]


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
    """ReLU y = max(x, 0). Remembers where ``x > 0`` (the book's mask, inverted); backward
    passes ``dout`` there and zeroes it elsewhere.

    Shapes: any; dx has x's shape. backward multiplies ``dout`` by the 0/1 mask, so a
    non-finite upstream gradient stays visible (NaN) instead of being zeroed; at a NaN input the
    gradient passes, as in the book (its mask is ``x <= 0``) and PyTorch.
    """

    def __init__(self) -> None:
        self._keep: np.ndarray | None = None

    def forward(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        self._keep = ~(x <= 0)  # True where x > 0 or x is NaN
        return np.maximum(x, 0)

    def backward(self, dout: Any) -> np.ndarray:
        keep = self._keep
        if keep is None:
            raise RuntimeError("Relu: backward() called before forward()")
        dout = np.asarray(dout)
        if dout.shape != keep.shape:
            raise ValueError(f"Relu: expected dout of shape {keep.shape}, got {dout.shape}")
        return dout * keep  # a new array (faster than np.where): the caller's dout is untouched


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

    #: parameter name → the attribute that holds its gradient after ``backward``
    grad_attrs: ClassVar[dict[str, str]] = {"W": "dW", "b": "db"}

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {"W": self.W, "b": self.b}

    @property
    def grads(self) -> dict[str, np.ndarray | None]:
        return {name: getattr(self, attr) for name, attr in self.grad_attrs.items()}

    def forward(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim < 2:
            raise ValueError(
                f"Affine: expected a batch of shape (N, {self.W.shape[0]}) or (N, d1, d2, ...), got x.shape={x.shape}"
            )
        x2 = x if x.ndim == 2 else x.reshape(x.shape[0], -1)
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
        x, W = self._x, self.W
        if x is None:
            raise RuntimeError("Affine: backward() called before forward()")
        dout = np.asarray(dout)
        if dout.shape != (x.shape[0], W.shape[1]):
            raise ValueError(f"Affine: expected dout of shape {(x.shape[0], W.shape[1])}, got {dout.shape}")
        self.dW = x.T @ dout
        self.db = column_sums(dout)
        if not input_grad:
            return None
        dx = dout @ W.T
        return dx if len(self._x_shape) == 2 else dx.reshape(self._x_shape)


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
        y, t = self.y, self.t
        if y is None:
            raise RuntimeError("SoftmaxWithLoss: backward() called before forward()")
        if dout.__class__ not in (int, float) and np.ndim(dout) != 0:
            raise ValueError(f"SoftmaxWithLoss: dout must be a scalar (the loss is), got shape {np.shape(dout)}")
        n, c = y.shape
        scale = dout / n
        if t.ndim == 1:
            dx = y * scale  # (y - t)·dout/N, with t's single 1 per row subtracted after
            dx.reshape(-1)[label_positions(t, c)] -= scale  # dx is fresh and contiguous: a view
        else:
            dx = y - t.astype(y.dtype, copy=False)
            dx *= scale
        return dx


# Chapter 6: layers whose forward depends on the mode (``train_flg``), as in the book.


def check_fraction(value: Any, name: str, where: str, *, closed: bool) -> float:
    """A real number in [0, 1) (or [0, 1] when ``closed``), as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{where}: {name} must be a number, got {value!r}")
    value = float(value)
    if not (0 <= value <= 1 if closed else 0 <= value < 1):
        raise ValueError(f"{where}: {name} must lie in [0, {'1]' if closed else '1)'}, got {value!r}")
    return value


class Dropout:
    """Inverted dropout: in training each entry is kept with probability 1 − p and scaled by 1/(1 − p).

    ``forward(x, train_flg=True)``: x of any shape → y of x's shape. In training a fresh mask is
    drawn from ``self.rng`` (uniform draws in float64 whatever x's dtype, so float32 and float64
    nets with the same seed drop the same units); in evaluation (``train_flg=False``) the layer is
    the identity. backward(dout) returns ``dout * mask / (1 − p)`` for the last forward (``dout``
    itself after an evaluation forward).

    This differs from the book, which keeps training outputs unscaled and multiplies by (1 − p)
    at evaluation: both give the same expected activations, but here evaluation costs nothing.
    ``seed`` is an int, a ``np.random.Generator`` (shared, e.g. with the network that owns the
    layer) or None (fresh randomness).
    """

    def __init__(self, dropout_ratio: float = 0.5, *, seed: int | np.random.Generator | None = None) -> None:
        self.dropout_ratio = check_fraction(dropout_ratio, "dropout_ratio", "Dropout", closed=False)
        self.rng = as_generator(seed)
        self._shape: tuple[int, ...] | None = None
        self._mask: np.ndarray | None = None  # 0 or 1/(1 − p) per entry; None: identity

    def forward(self, x: Any, train_flg: bool = True) -> np.ndarray:
        x = as_float_array(x, "Dropout")
        self._shape = x.shape
        if not train_flg or self.dropout_ratio == 0:
            self._mask = None
            return x
        keep = self.rng.random(x.shape) > self.dropout_ratio  # the book's test, on a Generator
        mask = keep.astype(x.dtype)
        mask *= 1 / (1 - self.dropout_ratio)
        self._mask = mask
        return x * mask

    def backward(self, dout: Any) -> np.ndarray:
        require_forward(self, "_shape")
        if np.shape(dout) != self._shape:
            raise ValueError(f"Dropout: expected dout of shape {self._shape}, got {np.shape(dout)}")
        if self._mask is None:
            return dout  # the identity's derivative: passed through unchanged
        return dout * self._mask


class BatchNormalization:
    """Batch normalization y = γ·x̂ + β, each feature normalized over the batch.

    Shapes: x (N, D) or (N, d1, d2, ...) flattened to D features (the book's convention); gamma,
    beta, running_mean, running_var (D,) → y in x's shape.
    ``forward(x, train_flg=True)``: in training x̂ = (x − μ_B) / √(σ²_B + eps) with the batch
    mean and biased variance, and the running statistics move in place,
    ``running_mean ← momentum·running_mean + (1 − momentum)·μ_B`` (likewise the variance, as
    the book; PyTorch's ``momentum`` is our 1 − momentum and it stores the unbiased variance);
    in evaluation x̂ = (x − running_mean) / √(running_var + eps).
    backward(dout) returns dx in x's shape and stores ``dgamma = Σ_N dout·x̂``, ``dbeta = Σ_N dout``.

    eps is 1e-5 (PyTorch's default, so results can be compared; the book uses 10e-7 = 1e-6).
    Running statistics start at mean 0 and variance 1 unless given (the book starts the variance
    at 0, which makes evaluation before training divide by √eps). gamma, beta and the running
    arrays are used by reference: the network that owns them updates or restores them in place.
    """

    def __init__(
        self,
        gamma: np.ndarray,
        beta: np.ndarray,
        momentum: float = 0.9,
        running_mean: np.ndarray | None = None,
        running_var: np.ndarray | None = None,
        *,
        eps: float = 1e-5,
    ) -> None:
        where = "BatchNormalization"
        gamma = np.asarray(gamma)
        if gamma.ndim != 1 or gamma.dtype.kind != "f":
            raise ValueError(
                f"{where}: gamma must be a 1-D floating array (D,), got shape {gamma.shape}, dtype {gamma.dtype}"
            )
        arrays = {"beta": beta, "running_mean": running_mean, "running_var": running_var}
        for name, arr in arrays.items():
            if arr is None and name != "beta":
                continue
            arr = arrays[name] = np.asarray(arr)
            if arr.shape != gamma.shape or arr.dtype.kind != "f":
                raise ValueError(
                    f"{where}: {name} must be a floating array of shape {gamma.shape} to match gamma, "
                    f"got shape {arr.shape}, dtype {arr.dtype}"
                )
        self.momentum = check_fraction(momentum, "momentum", where, closed=True)
        if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating)) or not 0 < eps < np.inf:
            raise ValueError(f"{where}: eps must be a positive number, got {eps!r}")
        self.eps = float(eps)
        self.gamma = gamma
        self.beta = arrays["beta"]
        rm, rv = arrays["running_mean"], arrays["running_var"]
        self.running_mean = np.zeros_like(gamma) if rm is None else rm
        self.running_var = np.ones_like(gamma) if rv is None else rv
        self.dgamma: np.ndarray | None = None
        self.dbeta: np.ndarray | None = None
        self._x_shape: tuple[int, ...] | None = None
        self._xn: np.ndarray | None = None  # x̂ as (N, D)
        self._inv_std: np.ndarray | None = None  # 1/√(σ² + eps) used by the last forward
        self._train = True

    #: parameter name → the attribute that holds its gradient after ``backward``
    grad_attrs: ClassVar[dict[str, str]] = {"gamma": "dgamma", "beta": "dbeta"}

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {"gamma": self.gamma, "beta": self.beta}

    @property
    def grads(self) -> dict[str, np.ndarray | None]:
        return {name: getattr(self, attr) for name, attr in self.grad_attrs.items()}

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        """The running statistics (not trained; saved in checkpoints and restored in place)."""
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def forward(self, x: Any, train_flg: bool = True) -> np.ndarray:
        x = as_float_array(x, "BatchNormalization")
        d = self.gamma.shape[0]
        if x.ndim < 2 or x[:1].size != d or x.shape[0] == 0:
            raise ValueError(
                f"BatchNormalization: expected a non-empty batch of shape (N, {d}) or (N, d1, d2, ...) "
                f"with {d} features, got x.shape={x.shape}"
            )
        x2 = x.reshape(x.shape[0], d)
        if train_flg:
            mu = x2.mean(axis=0)
            xn = x2 - mu
            var = np.mean(xn * xn, axis=0)
            inv_std = 1 / np.sqrt(var + self.eps)
            xn *= inv_std  # xn is a fresh array (x − μ): normalizing in place saves a temporary
            self.running_mean *= self.momentum
            self.running_mean += (1 - self.momentum) * mu
            self.running_var *= self.momentum
            self.running_var += (1 - self.momentum) * var
        else:
            inv_std = 1 / np.sqrt(self.running_var + self.eps)
            xn = x2 - self.running_mean
            xn *= inv_std
        self._x_shape, self._xn, self._inv_std, self._train = x.shape, xn, inv_std, bool(train_flg)
        out = xn * self.gamma
        out += self.beta
        return out.reshape(x.shape)

    def backward(self, dout: Any) -> np.ndarray:
        require_forward(self, "_xn")
        dout = np.asarray(dout)
        if dout.shape != self._x_shape:
            raise ValueError(f"BatchNormalization: expected dout of shape {self._x_shape}, got {dout.shape}")
        xn = self._xn
        dout2 = dout.reshape(xn.shape)
        self.dbeta = dout2.sum(axis=0)
        self.dgamma = np.sum(dout2 * xn, axis=0)
        if self._train:
            # Through μ_B and σ²_B: dx = γ/σ · (dout − Σdout/N − x̂·Σ(dout·x̂)/N).
            n = xn.shape[0]
            dx = xn * (self.dgamma / n)
            np.subtract(dout2, dx, out=dx)
            dx -= self.dbeta / n
            dx *= self.gamma * self._inv_std
        else:
            dx = dout2 * (self.gamma * self._inv_std)
        return dx.reshape(self._x_shape)
