"""The loss layer of chapter 5.6.3: softmax followed by the cross-entropy error."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule._checks import check_labels, check_real_input
from chainrule._kernels import label_positions
from chainrule.functions import softmax_cross_entropy
from chainrule.layers.base import Workspace
from chainrule.layers.rules import LocalRule

__all__ = ["SoftmaxWithLoss"]


class SoftmaxWithLoss:
    """Softmax followed by the mean cross-entropy error over the batch.

    forward(x, t): scores x (N, C); labels t as class indices (N,) or one-hot (N, C) → loss.
    backward(dout=1) returns ``dout * (y - t) / N`` of shape (N, C).
    After forward, ``y`` holds the softmax probabilities and ``loss`` the loss.
    Inside ``Network.gradient``, ``y`` and dx are reused buffers (``Workspace``).
    """

    _ws: Workspace | None = None  # set by the network that owns the layer, while it trains

    def __init__(self) -> None:
        self.loss: float | None = None
        self.y: np.ndarray | None = None
        self.t: np.ndarray | None = None

    def forward(self, x: Any, t: Any) -> float:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[0] == 0:
            what = "at least one sample: scores" if x.ndim == 2 else "scores"
            raise ValueError(f"SoftmaxWithLoss: expected {what} of shape (N, C), got x.shape={x.shape}")
        check_real_input(x, "SoftmaxWithLoss")
        if x.dtype.kind != "f":
            x = x.astype(np.float64)
        t = check_labels(t, x.shape[0], x.shape[1], "SoftmaxWithLoss")
        ws = self._ws
        if ws is None:
            self.loss, self.y = softmax_cross_entropy(x, t)
        else:
            self.loss, self.y = softmax_cross_entropy(x, t, out=ws.array("y", x.shape, x.dtype))
        self.t = t
        return self.loss

    rule = LocalRule(
        inputs=("x", "t"),
        forward="cross_entropy(softmax({x}), {t})",
        grads=("{dout} · ({y} − {t1}) / {N}", None),
        note="compares y = softmax({x}) with the labels t (one-hot) over a batch of N",
        terms={"y": "y", "t1": "t", "N": "N"},
    )

    def rule_values(self) -> dict[str, Any]:
        y, t = self.y, self.t
        if t.ndim == 1:
            t = np.eye(y.shape[1], dtype=y.dtype)[t]
        return {"y": y, "t1": t, "N": y.shape[0]}

    def backward(self, dout: Any = 1) -> np.ndarray:
        """The book's gradient of softmax-with-loss, times the upstream ``dout``:

            dx = dout · (y − t) / N        (N = batch size; y = softmax(x), t one-hot)

        Class-index labels subtract ``dout / N`` at each row's label instead of forming t.
        Returns dx of shape (N, C), a new array.
        """
        y, t = self.y, self.t
        if y is None:
            raise RuntimeError("SoftmaxWithLoss: backward() called before forward()")
        if dout.__class__ not in (int, float) and np.ndim(dout) != 0:
            raise ValueError(f"SoftmaxWithLoss: dout must be a scalar (the loss is), got shape {np.shape(dout)}")
        n, c = y.shape
        scale = dout / n
        ws = self._ws
        dx = None if ws is None else ws.array("dx", y.shape, y.dtype)
        if t.ndim == 1:
            dx = np.multiply(y, scale, out=dx)  # (y - t)·dout/N, with t's single 1 per row subtracted after
            dx.reshape(-1)[label_positions(t, c)] -= scale  # dx is contiguous: the reshape is a view
        else:
            dx = np.subtract(y, t.astype(y.dtype, copy=False), out=dx)
            dx *= scale
        return dx
