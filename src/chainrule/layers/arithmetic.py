"""Arithmetic nodes: chapter 5.4's multiply and add layers, and subtract, divide, negate, power.

Each takes Python numbers or arrays of any shapes that broadcast; backward returns one
gradient per input in that input's shape (broadcasting undone by ``sum_to``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule._checks import check_real_input, require_forward, shape_of
from chainrule.functions import sum_to
from chainrule.layers.rules import LocalRule

__all__ = ["AddLayer", "DivLayer", "MulLayer", "NegLayer", "PowLayer", "SubLayer"]


class MulLayer:
    """Multiply node z = x * y (any shapes that broadcast, or Python numbers).

    backward(dout) returns ``(dout * y, dout * x)`` — the inputs swapped — each summed back
    to its input's shape.
    """

    def __init__(self) -> None:
        self._x: Any = None
        self._y: Any = None

    def forward(self, x: Any, y: Any) -> Any:
        check_real_input(x, "MulLayer", "x")
        check_real_input(y, "MulLayer", "y")
        self._x, self._y = x, y
        return x * y

    rule = LocalRule(inputs=("x", "y"), forward="{x} × {y}", grads=("{dout} · {y}", "{dout} · {x}"))

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
        check_real_input(x, "AddLayer", "x")
        check_real_input(y, "AddLayer", "y")
        self._x_shape, self._y_shape = shape_of(x), shape_of(y)
        return x + y

    rule = LocalRule(inputs=("x", "y"), forward="{x} + {y}", grads=("{dout}", "{dout}"), note="passes dout through")

    def backward(self, dout: Any) -> tuple[Any, Any]:
        require_forward(self, "_x_shape", "_y_shape")
        return sum_to(dout, self._x_shape), sum_to(dout, self._y_shape)


class SubLayer:
    """Subtract node z = x - y. backward(dout) returns ``(dout, -dout)``, summed to each input's shape."""

    def __init__(self) -> None:
        self._x_shape: tuple[int, ...] | None = None
        self._y_shape: tuple[int, ...] | None = None

    def forward(self, x: Any, y: Any) -> Any:
        check_real_input(x, "SubLayer", "x")
        check_real_input(y, "SubLayer", "y")
        self._x_shape, self._y_shape = shape_of(x), shape_of(y)
        return x - y

    rule = LocalRule(
        inputs=("x", "y"),
        forward="{x} − {y}",
        grads=("{dout}", "−1 · {dout}"),
        note="passes dout to {x} and −dout to {y}",
    )

    def backward(self, dout: Any) -> tuple[Any, Any]:
        require_forward(self, "_x_shape", "_y_shape")
        return sum_to(dout, self._x_shape), sum_to(-dout, self._y_shape)


class DivLayer:
    """Divide node z = x / y. backward(dout) returns ``(dout / y, -dout · x / y²)``, summed to shape."""

    def __init__(self) -> None:
        self._x: Any = None
        self._y: Any = None

    def forward(self, x: Any, y: Any) -> Any:
        check_real_input(x, "DivLayer", "x")
        check_real_input(y, "DivLayer", "y")
        self._x, self._y = x, y
        return x / y

    rule = LocalRule(inputs=("x", "y"), forward="{x} / {y}", grads=("{dout} / {y}", "−{dout} · {x} / {y}²"))
    #: the book's "/" node, y = 1 / x (``graph.reciprocal``: this layer with 1 as the numerator)
    reciprocal_rule = LocalRule(
        inputs=("x",), forward="1 / {x}", grads=("−{dout} · {out}²",), note="is the book's / node: ∂y/∂x = −1/x² = −y²"
    )

    def backward(self, dout: Any) -> tuple[Any, Any]:
        require_forward(self, "_x", "_y")
        x, y = self._x, self._y
        dx = sum_to(dout / y, shape_of(x))
        dy = sum_to(-dout * x / (y * y), shape_of(y))
        return dx, dy


class NegLayer:
    """Negation y = -x. backward(dout) returns ``-dout``."""

    def __init__(self) -> None:
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: Any) -> Any:
        check_real_input(x, "NegLayer", "x")
        self._shape = shape_of(x)
        return -x

    rule = LocalRule(inputs=("x",), forward="−{x}", grads=("−1 · {dout}",), note="flips the sign of dout")

    def backward(self, dout: Any) -> Any:
        require_forward(self, "_shape")
        return -dout


class PowLayer:
    """Power node z = x ** c (x and c any shapes that broadcast).

    backward(dout) returns ``(dout · c · x^(c-1), dout · z · ln x)``. The exponent's gradient is
    defined for x > 0; at x = 0 it is 0 (z = 0 there for c > 0) and for x < 0 it is NaN (no
    real derivative). Each is summed to its input's shape.
    """

    def __init__(self) -> None:
        self._x: Any = None
        self._c: Any = None
        self._out: Any = None

    def forward(self, x: Any, c: Any) -> Any:
        check_real_input(x, "PowLayer", "x")
        check_real_input(c, "PowLayer", "c")
        self._x, self._c = x, c
        self._out = x**c
        return self._out

    rule = LocalRule(
        inputs=("x", "c"), forward="{x}^{c}", grads=("{dout} · {c} · {x}^({c} − 1)", "{dout} · {out} · ln {x}")
    )

    def backward(self, dout: Any) -> tuple[Any, Any]:
        require_forward(self, "_x", "_c")
        x, c = np.asarray(self._x), self._c
        with np.errstate(divide="ignore", invalid="ignore"):
            dx = dout * c * x ** (c - 1)
            ln_x = np.where(x > 0, np.log(np.where(x > 0, x, 1)), np.where(x == 0, 0, np.nan))
            dc = dout * self._out * ln_x.astype(x.dtype, copy=False)
        return sum_to(dx, shape_of(self._x)), sum_to(dc, shape_of(c))
