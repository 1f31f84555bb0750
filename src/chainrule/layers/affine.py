"""Matrix products: chapter 5.6's Affine layer and the bare MatMul node, sharing one gradient."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from chainrule._checks import check_real_input, require_forward
from chainrule._kernels import column_sums
from chainrule.layers.base import ParameterLayer, Workspace, result_dtype
from chainrule.layers.rules import LocalRule

__all__ = ["Affine", "MatMul", "matmul_backward"]


def matmul_backward(
    x: np.ndarray,
    W: np.ndarray,
    dout: np.ndarray,
    *,
    input_grad: bool = True,
    weight_grad: bool = True,
    dx_out: np.ndarray | None = None,
    dW_out: np.ndarray | None = None,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The matrix product's local rule, for y = x·W: ``(dx, dW) = (dout·Wᵀ, xᵀ·dout)``.

    Shapes: x (N, D), W (D, M), dout (N, M) → dx (N, D), dW (D, M). ``input_grad=False``
    (``weight_grad=False``) returns None for dx (dW): each costs as much as the forward
    product, and the data of a network's first layer needs none. ``dx_out`` / ``dW_out``
    receive the products when given (a layer's workspace), else they are new arrays. Affine,
    MatMul and Convolution (whose forward is filters · windows) all call this: the derivative
    is written once.
    """
    dW = np.matmul(x.T, dout, out=dW_out) if weight_grad else None
    dx = np.matmul(dout, W.T, out=dx_out) if input_grad else None
    return dx, dW


class Affine(ParameterLayer):
    """Fully connected layer y = x·W + b.

    Shapes: x (N, D) or (N, d1, d2, ...) flattened to D; W (D, M); b (M,) → y (N, M).
    backward(dout) returns dx in x's shape and stores ``dW = xᵀ·dout`` and ``db = Σ_N dout``.
    ``W`` and ``b`` are used by reference: updating them in place updates the layer.
    Inside ``Network.gradient`` the output, dx, dW and db are reused buffers (see ``Workspace``).
    """

    _ws: Workspace | None = None  # set by the network that owns the layer, while it trains

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

    param_names: ClassVar[tuple[str, ...]] = ("W", "b")

    def forward(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        check_real_input(x, "Affine")
        if x.ndim < 2:
            raise ValueError(
                f"Affine: expected a batch of shape (N, {self.W.shape[0]}) or (N, d1, d2, ...), got x.shape={x.shape}"
            )
        ws = self._ws
        if x.ndim == 2:
            x2 = x
        elif ws is not None and not x.flags.c_contiguous:  # reshape would copy: into the workspace
            x2 = ws.array("x2", (x.shape[0], x[:1].size), x.dtype)
            np.copyto(x2.reshape(x.shape), x)
        else:
            x2 = x.reshape(x.shape[0], -1)
        if x2.shape[1] != self.W.shape[0]:
            raise ValueError(
                f"Affine: expected {self.W.shape[0]} input features, got {x2.shape[1]} (x.shape={x.shape})"
            )
        self._x, self._x_shape = x2, x.shape
        if ws is None:
            out = x2 @ self.W
            out += self.b  # out is a fresh array: adding in place saves a temporary
            return out
        dtype = result_dtype(x2, self.W)
        shape = (x2.shape[0], self.W.shape[1])
        out = np.matmul(x2, self.W, out=ws.array("out", shape, dtype))
        # b copied onto every row, then one elementwise add: a broadcasting add would allocate
        # NumPy's iteration buffer (the output's size, up to 8192 entries) every step, and is slower.
        rows = ws.array("b_rows", shape, dtype)
        np.copyto(rows, self.b)
        out += rows
        return out

    rule = LocalRule(
        inputs=("x", "W", "b"),
        forward="{x} · {W} + {b}",
        grads=("{dout} · {W}ᵀ", "{x}ᵀ · {dout}", "Σ_N {dout}"),
        note="uses the matrix product's rule and sums b's gradient over the batch",
    )

    def backward(self, dout: Any, *, input_grad: bool = True) -> np.ndarray | None:
        """Store dW, db and return dx; ``input_grad=False`` skips dx (the first layer of a net
        needs no gradient for its data, and dx costs as much as dW) and returns None."""
        x, W = self._x, self.W
        if x is None:
            raise RuntimeError("Affine: backward() called before forward()")
        dout = np.asarray(dout)
        if dout.shape != (x.shape[0], W.shape[1]):
            raise ValueError(f"Affine: expected dout of shape {(x.shape[0], W.shape[1])}, got {dout.shape}")
        ws = self._ws
        if ws is None:
            dx, self.dW = matmul_backward(x, W, dout, input_grad=input_grad)
            self.db = column_sums(dout)
        else:
            dx_out = ws.array("dx", x.shape, result_dtype(dout, W)) if input_grad else None
            dW_out = ws.array("dW", W.shape, result_dtype(x, dout))
            dx, self.dW = matmul_backward(x, W, dout, input_grad=input_grad, dx_out=dx_out, dW_out=dW_out)
            self.db = column_sums(dout, out=ws.array("db", self.b.shape, dout.dtype))
        if dx is None or len(self._x_shape) == 2:
            return dx
        return dx.reshape(self._x_shape)


class MatMul:
    """Matrix product y = x @ W for 1-D or 2-D operands (as ``np.matmul``).

    Shapes: x (N, D) or (D,); W (D, M) or (D,) → y (N, M), (M,), (N,) or (). backward(dout)
    returns ``(dout @ Wᵀ, xᵀ @ dout)`` with 1-D operands treated as a row (x) or column (W).
    """

    def __init__(self) -> None:
        self._x: np.ndarray | None = None
        self._W: np.ndarray | None = None

    def forward(self, x: Any, W: Any) -> np.ndarray:
        x, W = np.asarray(x), np.asarray(W)
        check_real_input(x, "MatMul")
        check_real_input(W, "MatMul", "W")
        if x.ndim not in (1, 2) or W.ndim not in (1, 2):
            raise ValueError(f"MatMul: expected 1-D or 2-D operands, got shapes {x.shape} and {W.shape}")
        if x.shape[-1] != W.shape[0]:
            raise ValueError(f"MatMul: inner dimensions differ: x.shape={x.shape}, W.shape={W.shape}")
        self._x, self._W = x, W
        return x @ W

    rule = LocalRule(inputs=("x", "W"), forward="{x} · {W}", grads=("{dout} · {W}ᵀ", "{x}ᵀ · {dout}"))

    def backward(self, dout: Any) -> tuple[np.ndarray, np.ndarray]:
        require_forward(self, "_x", "_W")
        x, W = self._x, self._W
        x2 = x.reshape(1, -1) if x.ndim == 1 else x  # a 1-D x is one row
        W2 = W.reshape(-1, 1) if W.ndim == 1 else W  # a 1-D W is one column
        dout2 = np.reshape(dout, (x2.shape[0], W2.shape[1]))
        dx, dW = matmul_backward(x2, W2, dout2)
        return dx.reshape(x.shape), dW.reshape(W.shape)
