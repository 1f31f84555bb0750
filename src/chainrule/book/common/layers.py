"""The book's ``common/layers.py``: chainrule's layers, with the book's Dropout and BatchNormalization.

``Relu``, ``Sigmoid``, ``Affine``, ``SoftmaxWithLoss`` and ``Pooling`` are chainrule's own;
``Convolution`` is too, but also takes a number for its bias, as ``ch07/apply_filter.py`` passes
``b = 0`` (chainrule's own wants the (FN,) array: parameters are never broadcast silently).
``Dropout`` and ``BatchNormalization`` here behave as the book's code does, so its figures come
out: dropout keeps training outputs unscaled and scales by (1 − p) at evaluation; batch
normalization uses eps 1e-6 (the book's ``10e-7``) and starts its running variance at 0.
chainrule's own (``chainrule.layers``) use inverted dropout, eps 1e-5 and a running variance
starting at 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.book.common.functions import (
    cross_entropy_error,
    identity_function,
    relu,
    relu_grad,
    sigmoid,
    sigmoid_grad,
    softmax,
    softmax_loss,
    step_function,
    sum_squared_error,
)
from chainrule.layers import Affine, Pooling, Relu, Sigmoid, SoftmaxWithLoss
from chainrule.layers import BatchNormalization as _BatchNormalization
from chainrule.layers import Convolution as _Convolution
from chainrule.layers import Dropout as _Dropout
from chainrule.windows import col2im, im2col

# What ``from common.layers import *`` gives in the book: its layers, and (through its own
# imports) NumPy, the functions of common/functions.py, im2col and col2im.
__all__ = [
    "Affine",
    "BatchNormalization",
    "Convolution",
    "Dropout",
    "Pooling",
    "Relu",
    "Sigmoid",
    "SoftmaxWithLoss",
    "col2im",
    "cross_entropy_error",
    "identity_function",
    "im2col",
    "np",
    "relu",
    "relu_grad",
    "sigmoid",
    "sigmoid_grad",
    "softmax",
    "softmax_loss",
    "step_function",
    "sum_squared_error",
]

#: The book's ``10e-7``.
BOOK_EPS = 1e-6


class Dropout(_Dropout):
    """The book's ``Dropout(dropout_ratio=0.5)``: unscaled in training, × (1 − p) in evaluation."""

    def __init__(self, dropout_ratio: float = 0.5, *, seed: int | np.random.Generator | None = None) -> None:
        super().__init__(dropout_ratio, inverted=False, seed=seed)


class Convolution(_Convolution):
    """The book's ``Convolution(W, b, stride=1, pad=0)``; a number ``b`` is one bias for every filter."""

    def __init__(self, W: Any, b: Any, stride: int = 1, pad: int = 0) -> None:
        W = np.asarray(W)
        if np.ndim(b) == 0 and W.ndim == 4:
            b = np.full(W.shape[0], b, dtype=W.dtype if W.dtype.kind == "f" else np.float64)
        super().__init__(W, b, stride, pad)


class BatchNormalization(_BatchNormalization):
    """The book's ``BatchNormalization(gamma, beta, momentum=0.9, running_mean=None, running_var=None)``:
    eps 1e-6, running statistics starting at 0."""

    def __init__(
        self,
        gamma: Any,
        beta: Any,
        momentum: float = 0.9,
        running_mean: Any = None,
        running_var: Any = None,
    ) -> None:
        gamma = np.asarray(gamma)
        super().__init__(
            gamma,
            beta,
            momentum,
            running_mean,
            np.zeros_like(gamma) if running_var is None else running_var,
            eps=BOOK_EPS,
        )
