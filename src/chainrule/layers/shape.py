"""Array nodes: sums and means over axes, reshapes and transposes.

Their backward only moves gradients around (broadcast back, reshape back, permute back).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule._checks import is_int, require_forward
from chainrule.layers.rules import LocalRule

__all__ = ["Mean", "Reshape", "Sum", "Transpose"]


def _normalize_axes(axis: int | tuple[int, ...] | None, ndim: int, where: str) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not is_int(a) or not -ndim <= a < ndim:
            raise ValueError(f"{where}: axis {a!r} is out of range for an input with {ndim} dimensions")
        out.append(int(a) % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"{where}: repeated axis in {axis!r}")
    return tuple(sorted(out))


class Sum:
    """Sum y = Σ x over ``axis`` (None: all axes), keeping reduced axes as 1 when ``keepdims``.

    backward(dout) broadcasts ``dout`` back to x's shape (a new array).
    """

    def __init__(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> None:
        self.axis = axis
        self.keepdims = bool(keepdims)
        self._x_shape: tuple[int, ...] | None = None
        self._axes: tuple[int, ...] = ()

    def forward(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        self._axes = _normalize_axes(self.axis, x.ndim, type(self).__name__)
        self._x_shape = x.shape
        return np.asarray(np.sum(x, axis=self._axes, keepdims=self.keepdims))

    rule = LocalRule(
        inputs=("x",), forward="Σ {x}", grads=("broadcast({dout})",), note="copies dout to every entry it summed"
    )

    def backward(self, dout: Any) -> np.ndarray:
        require_forward(self, "_x_shape")
        dout = np.asarray(dout)
        if not self.keepdims:
            dout = np.expand_dims(dout, self._axes)
        return np.broadcast_to(dout, self._x_shape).copy()


class Mean:
    """Mean y = Σ x / n over ``axis`` (None: all axes). backward is ``Sum``'s, scaled by 1/n."""

    def __init__(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> None:
        self._sum = Sum(axis, keepdims)
        self._n: int | None = None

    def forward(self, x: Any) -> np.ndarray:
        total = self._sum.forward(x)
        self._n = int(np.prod([self._sum._x_shape[a] for a in self._sum._axes], dtype=np.int64))
        return total / self._n

    rule = LocalRule(
        inputs=("x",),
        forward="mean({x})",
        grads=("broadcast({dout}) / {n}",),
        note="shares dout equally among the n entries it averaged",
        terms={"n": "n"},
    )

    def rule_values(self) -> dict[str, Any]:
        return {"n": self._n}

    def backward(self, dout: Any) -> np.ndarray:
        require_forward(self, "_n")
        return self._sum.backward(np.asarray(dout) / self._n)


class Reshape:
    """Reshape y = x.reshape(shape). backward(dout) returns ``dout`` reshaped to x's shape."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = tuple(shape)
        self._x_shape: tuple[int, ...] | None = None

    def forward(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        self._x_shape = x.shape
        return x.reshape(self.shape)

    rule = LocalRule(
        inputs=("x",), forward="reshape({x})", grads=("reshape({dout})",), note="reshapes dout back to {x}'s shape"
    )

    def backward(self, dout: Any) -> np.ndarray:
        require_forward(self, "_x_shape")
        return np.reshape(dout, self._x_shape)


class Transpose:
    """Axis permutation y = x.transpose(axes) (None: reverse the axes). backward applies the inverse."""

    def __init__(self, axes: tuple[int, ...] | None = None) -> None:
        self.axes = None if axes is None else tuple(int(a) for a in axes)
        self._inverse: tuple[int, ...] | None = None

    def forward(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        axes = tuple(range(x.ndim))[::-1] if self.axes is None else self.axes
        if sorted(a % x.ndim if x.ndim else a for a in axes) != list(range(x.ndim)):
            raise ValueError(f"Transpose: axes {axes} are not a permutation of {x.ndim} axes")
        self._inverse = tuple(int(i) for i in np.argsort([a % x.ndim for a in axes]))
        return np.transpose(x, axes)

    rule = LocalRule(inputs=("x",), forward="{x}ᵀ", grads=("{dout}ᵀ",), note="permutes dout's axes back")

    def backward(self, dout: Any) -> np.ndarray:
        require_forward(self, "_inverse")
        return np.transpose(dout, self._inverse)
