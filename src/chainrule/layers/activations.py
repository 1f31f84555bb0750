"""Elementwise function nodes: chapter 5.5's ReLU and Sigmoid, and Tanh, exp and log.

Shapes: any; backward returns dx of x's shape, ``dout`` times the local derivative.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule._checks import check_real_input, require_forward
from chainrule.functions import sigmoid

__all__ = ["Exp", "Log", "Relu", "Sigmoid", "Tanh"]


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
        check_real_input(x, "Relu")
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
        check_real_input(x, "Sigmoid")
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
        check_real_input(x, "Tanh")
        self._out = np.tanh(x)
        return self._out

    def backward(self, dout: Any) -> np.ndarray:
        require_forward(self, "_out")
        y = self._out
        if np.shape(dout) != y.shape:
            raise ValueError(f"Tanh: expected dout of shape {y.shape}, got {np.shape(dout)}")
        return dout * (1 - y * y)


class Exp:
    """Exponential y = exp(x). backward(dout) returns ``dout · y``."""

    def __init__(self) -> None:
        self._out: np.ndarray | None = None

    def forward(self, x: Any) -> np.ndarray:
        check_real_input(x, "Exp")
        self._out = np.exp(x)
        return self._out

    def backward(self, dout: Any) -> Any:
        require_forward(self, "_out")
        return dout * self._out


class Log:
    """Natural logarithm y = ln x. backward(dout) returns ``dout / x``."""

    def __init__(self) -> None:
        self._x: np.ndarray | None = None

    def forward(self, x: Any) -> np.ndarray:
        check_real_input(x, "Log")
        self._x = np.asarray(x)
        return np.log(self._x)

    def backward(self, dout: Any) -> Any:
        require_forward(self, "_x")
        return dout / self._x
