"""Elementwise function nodes: chapter 5.5's ReLU and Sigmoid, and Tanh, exp and log.

Shapes: any; backward returns dx of x's shape, ``dout`` times the local derivative.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule._checks import check_real_input, require_forward
from chainrule.functions import sigmoid
from chainrule.layers.base import Workspace, result_dtype
from chainrule.layers.rules import LocalRule

__all__ = ["Exp", "Log", "Relu", "Sigmoid", "Tanh"]


class Relu:
    """ReLU y = max(x, 0). Remembers where ``x > 0`` (the book's mask, inverted); backward
    passes ``dout`` there and zeroes it elsewhere.

    Shapes: any; dx has x's shape. backward multiplies ``dout`` by the 0/1 mask, so a
    non-finite upstream gradient stays visible (NaN) instead of being zeroed; at a NaN input the
    gradient passes, as in the book (its mask is ``x <= 0``) and PyTorch.
    Inside ``Network.gradient`` the output, the mask and dx are reused buffers (``Workspace``).
    """

    _ws: Workspace | None = None  # set by the network that owns the layer, while it trains

    def __init__(self) -> None:
        self._keep: np.ndarray | None = None

    def forward(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        check_real_input(x, "Relu")
        ws = self._ws
        if ws is None:
            out = np.maximum(x, 0)
            self._keep = out != 0
        else:
            out = np.maximum(x, 0, out=ws.like("out", x))
            keep = np.not_equal(out, 0, out=ws.like("keep", x, np.bool_))
            # backward multiplies dout by the mask: as floats, that product needs no cast buffer
            if x.dtype.kind == "f":
                keep_f = ws.like("keep_f", x)
                np.copyto(keep_f, keep)
                keep = keep_f
            self._keep = keep
        # out != 0 is the book's mask inverted, from one pass over the output: True where x > 0
        # or x is NaN (max(NaN, 0) is NaN), False where x <= 0 (including -0.0).
        return out

    rule = LocalRule(
        inputs=("x",),
        forward="max({x}, 0)",
        grads=("{dout} · {mask}",),
        note="passes dout where {x} > 0 and stops it (0) elsewhere",
        terms={"mask": "[{x} > 0]"},
    )

    def rule_values(self) -> dict[str, Any]:
        return {"mask": self._keep.astype(np.float64)}

    def backward(self, dout: Any) -> np.ndarray:
        keep = self._keep
        if keep is None:
            raise RuntimeError("Relu: backward() called before forward()")
        dout = np.asarray(dout)
        if dout.shape != keep.shape:
            raise ValueError(f"Relu: expected dout of shape {keep.shape}, got {dout.shape}")
        ws = self._ws
        if ws is None:
            return dout * keep  # a new array (faster than np.where): the caller's dout is untouched
        return np.multiply(dout, keep, out=ws.like("dx", keep, dout.dtype))


def _grad_buffer(ws: Workspace, y: np.ndarray, dout: Any) -> np.ndarray:
    """The workspace array for dx = dout · f'(x) of an elementwise layer with output ``y``."""
    return ws.like("dx", y, result_dtype(y, dout))


class Sigmoid:
    """Sigmoid y = 1 / (1 + exp(-x)), stable at any input. backward: ``dout * y * (1 - y)``.

    Inside ``Network.gradient`` the output and dx are reused buffers (``Workspace``).
    """

    _ws: Workspace | None = None  # set by the network that owns the layer, while it trains

    def __init__(self) -> None:
        self._out: np.ndarray | None = None

    def forward(self, x: Any) -> np.ndarray:
        ws = self._ws
        x = np.asarray(x)
        check_real_input(x, "Sigmoid")
        if ws is None or x.dtype.kind != "f":
            self._out = sigmoid(x)
        else:  # sigmoid's own formula, into buffers: 1/(1+e) for x >= 0, e/(1+e) below, e = exp(-|x|)
            e = np.abs(x, out=ws.like("e", x))
            np.negative(e, out=e)
            np.exp(e, out=e)
            out = np.add(e, 1, out=ws.like("out", x))
            np.copyto(e, 1, where=np.greater_equal(x, 0, out=ws.like("nonneg", x, np.bool_)))
            self._out = np.divide(e, out, out=out)
        return self._out

    rule = LocalRule(inputs=("x",), forward="1 / (1 + exp(−{x}))", grads=("{dout} · {out} · (1 − {out})",))

    def backward(self, dout: Any) -> np.ndarray:
        require_forward(self, "_out")
        y = self._out
        if np.shape(dout) != y.shape:
            raise ValueError(f"Sigmoid: expected dout of shape {y.shape}, got {np.shape(dout)}")
        ws = self._ws
        if ws is None:
            return dout * (y * (1 - y))
        dx = np.subtract(1, y, out=_grad_buffer(ws, y, dout))
        dx *= y
        dx *= dout
        return dx


class Tanh:
    """Hyperbolic tangent y = tanh(x). backward: ``dout * (1 - y²)``.

    Inside ``Network.gradient`` the output and dx are reused buffers (``Workspace``).
    """

    _ws: Workspace | None = None  # set by the network that owns the layer, while it trains

    def __init__(self) -> None:
        self._out: np.ndarray | None = None

    def forward(self, x: Any) -> np.ndarray:
        ws = self._ws
        x = np.asarray(x)
        check_real_input(x, "Tanh")
        if ws is None or x.dtype.kind != "f":
            self._out = np.tanh(x)
        else:
            self._out = np.tanh(x, out=ws.like("out", x))
        return self._out

    rule = LocalRule(inputs=("x",), forward="tanh({x})", grads=("{dout} · (1 − {out}²)",))

    def backward(self, dout: Any) -> np.ndarray:
        require_forward(self, "_out")
        y = self._out
        if np.shape(dout) != y.shape:
            raise ValueError(f"Tanh: expected dout of shape {y.shape}, got {np.shape(dout)}")
        ws = self._ws
        if ws is None:
            return dout * (1 - y * y)
        dx = np.multiply(y, y, out=_grad_buffer(ws, y, dout))
        np.subtract(1, dx, out=dx)
        dx *= dout
        return dx


class Exp:
    """Exponential y = exp(x). backward(dout) returns ``dout · y``."""

    def __init__(self) -> None:
        self._out: np.ndarray | None = None

    def forward(self, x: Any) -> np.ndarray:
        check_real_input(x, "Exp")
        self._out = np.exp(x)
        return self._out

    rule = LocalRule(inputs=("x",), forward="exp({x})", grads=("{dout} · {e}",), terms={"e": "exp({x})"})

    def rule_values(self) -> dict[str, Any]:
        return {"e": self._out}

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

    rule = LocalRule(inputs=("x",), forward="ln {x}", grads=("{dout} / {x}",))

    def backward(self, dout: Any) -> Any:
        require_forward(self, "_x")
        return dout / self._x
