"""Chapter 6's layers whose forward depends on the mode (``train_flg``): Dropout and batch normalization."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from chainrule._checks import as_float_array, check_bool, check_fraction, check_real, require_forward
from chainrule._rng import as_generator
from chainrule.layers.base import ParameterLayer, Workspace, result_dtype

__all__ = ["BatchNormalization", "Dropout"]


class Dropout:
    """Dropout: in training each entry is kept with probability 1 − p (``p = dropout_ratio``).

    ``forward(x, train_flg=True)``: x of any shape → y of x's shape. In training a fresh mask is
    drawn from ``self.rng`` (uniform draws in float64 whatever x's dtype, so float32 and float64
    nets with the same seed drop the same units). backward(dout) returns ``dout`` times the last
    forward's local derivative.

    ``inverted=True`` (the default, as PyTorch and Keras): kept entries are scaled by 1/(1 − p) in
    training and evaluation (``train_flg=False``) is the identity, so it costs nothing.
    ``inverted=False`` is the book's: training keeps entries unscaled and evaluation multiplies
    by (1 − p). Both give the same expected activations; the book's figures (chapter 6.4.3) come
    from its form, which ``chainrule.book`` uses. ``seed`` is an int, a ``np.random.Generator``
    (shared, e.g. with the network that owns the layer) or None (a seed drawn from NumPy's global
    generator, so ``np.random.seed`` applies). Inside ``Network.gradient`` the draws, the mask,
    the output and dx are reused buffers (``Workspace``); the draws are the same.
    """

    _ws: Workspace | None = None  # set by the network that owns the layer, while it trains

    def __init__(
        self, dropout_ratio: float = 0.5, *, inverted: bool = True, seed: int | np.random.Generator | None = None
    ) -> None:
        self.dropout_ratio = check_fraction(dropout_ratio, "dropout_ratio", "Dropout", closed=False)
        self.inverted = check_bool(inverted, "inverted", "Dropout")
        self.rng = as_generator(seed)
        self._shape: tuple[int, ...] | None = None
        self._mask: np.ndarray | None = None  # the local derivative: a mask, a scalar, or None (identity)

    def forward(self, x: Any, train_flg: bool = True) -> np.ndarray:
        x = as_float_array(x, "Dropout")
        self._shape = x.shape
        if self.dropout_ratio == 0 or (not train_flg and self.inverted):
            self._mask = None
            return x
        if not train_flg:  # the book's evaluation: every entry scaled by the keep probability
            self._mask = np.asarray(1 - self.dropout_ratio, dtype=x.dtype)
            return x * self._mask
        ws = self._ws
        if ws is None:
            keep = self.rng.random(x.shape) > self.dropout_ratio  # the book's test, on a Generator
            mask = keep.astype(x.dtype)
        else:
            draws = self.rng.random(out=ws.array("draws", x.shape, np.float64))  # C order, as random(shape)
            keep = np.greater(draws, self.dropout_ratio, out=ws.array("keep", x.shape, np.bool_))
            mask = ws.like("mask", x)
            np.copyto(mask, keep)
        if self.inverted:
            mask *= 1 / (1 - self.dropout_ratio)
        self._mask = mask
        if ws is None:
            return x * mask
        return np.multiply(x, mask, out=ws.like("out", x))

    def backward(self, dout: Any) -> np.ndarray:
        require_forward(self, "_shape")
        if np.shape(dout) != self._shape:
            raise ValueError(f"Dropout: expected dout of shape {self._shape}, got {np.shape(dout)}")
        if self._mask is None:
            return dout  # the identity's derivative: passed through unchanged
        ws = self._ws
        if ws is None or self._mask.ndim == 0:
            return dout * self._mask
        return np.multiply(dout, self._mask, out=ws.like("dx", self._mask, result_dtype(self._mask, dout)))


class BatchNormalization(ParameterLayer):
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
        self.eps = check_real(eps, "eps", where, low=0.0, low_open=True)
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

    param_names: ClassVar[tuple[str, ...]] = ("gamma", "beta")
    _ws: Workspace | None = None  # set by the network that owns the layer, while it trains (training forward only)

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
        ws = self._ws
        if train_flg and ws is not None:
            return self._forward_into(ws, x, x2)
        if train_flg:
            mu = x2.mean(axis=0)
            xn = x2 - mu
            var = np.mean(xn * xn, axis=0)
            inv_std = 1 / np.sqrt(var + self.eps)
            xn *= inv_std  # xn is a fresh array (x − μ): normalizing in place saves a temporary
            self._update_running(mu, var)
        else:
            inv_std = 1 / np.sqrt(self.running_var + self.eps)
            xn = x2 - self.running_mean
            xn *= inv_std
        self._x_shape, self._xn, self._inv_std, self._train = x.shape, xn, inv_std, bool(train_flg)
        out = xn * self.gamma
        out += self.beta
        return out.reshape(x.shape)

    def _update_running(self, mu: np.ndarray, var: np.ndarray) -> None:
        self.running_mean *= self.momentum
        self.running_mean += (1 - self.momentum) * mu
        self.running_var *= self.momentum
        self.running_var += (1 - self.momentum) * var

    def _forward_into(self, ws: Workspace, x: np.ndarray, x2: np.ndarray) -> np.ndarray:
        """The training forward above, the same arithmetic into workspace arrays.

        Per-feature vectors are first copied onto every row (``rows``): a broadcasting ufunc
        would allocate NumPy's iteration buffer each step.
        """
        shape, dtype = x2.shape, x2.dtype
        rows = ws.array("rows", shape, dtype)
        mu = x2.mean(axis=0)
        np.copyto(rows, mu)
        xn = np.subtract(x2, rows, out=ws.array("xn", shape, dtype))
        var = np.mean(np.multiply(xn, xn, out=ws.array("sq", shape, dtype)), axis=0)
        inv_std = 1 / np.sqrt(var + self.eps)
        np.copyto(rows, inv_std)
        xn *= rows
        self._update_running(mu, var)
        self._x_shape, self._xn, self._inv_std, self._train = x.shape, xn, inv_std, True
        out = ws.array("out", shape, dtype)
        np.copyto(out, self.gamma)
        out *= xn
        np.copyto(rows, self.beta)
        out += rows
        return out.reshape(x.shape)

    def backward(self, dout: Any) -> np.ndarray:
        require_forward(self, "_xn")
        dout = np.asarray(dout)
        if dout.shape != self._x_shape:
            raise ValueError(f"BatchNormalization: expected dout of shape {self._x_shape}, got {dout.shape}")
        xn = self._xn
        dout2 = dout.reshape(xn.shape)
        ws = self._ws
        if ws is not None and self._train and dout2.dtype == xn.dtype:
            return self._backward_into(ws, dout2)
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

    def _backward_into(self, ws: Workspace, dout2: np.ndarray) -> np.ndarray:
        """The training backward above, the same arithmetic into workspace arrays."""
        xn = self._xn
        shape, dtype = xn.shape, xn.dtype
        n = shape[0]
        self.dbeta = np.sum(dout2, axis=0, out=ws.array("dbeta", self.beta.shape, dtype))
        prod = np.multiply(dout2, xn, out=ws.array("prod", shape, dtype))
        self.dgamma = np.sum(prod, axis=0, out=ws.array("dgamma", self.gamma.shape, dtype))
        rows = ws.array("rows", shape, dtype)
        dx = ws.array("dx", shape, dtype)
        np.copyto(dx, self.dgamma / n)
        dx *= xn
        np.subtract(dout2, dx, out=dx)
        np.copyto(rows, self.dbeta / n)
        dx -= rows
        np.copyto(rows, self.gamma * self._inv_std)
        dx *= rows
        return dx.reshape(self._x_shape)
