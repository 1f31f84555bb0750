"""The book's ch05 code reproduced: the speed baseline the benchmarks compare chainrule with.

``TwoLayerNet`` and its layers as the book writes them (``np.dot`` on float64 weights and
float32 data, a ReLU that copies and zeroes ``dout`` in place, a softmax-with-loss that sniffs
one-hot labels by size and takes log(y + 1e-7)), the training step of ``train_neuralnet.py``
(batches drawn with replacement, the loss computed again for the log) and its whole run.
Deliberately not chainrule's layers, which are the thing being compared; never installed.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import numpy as np

from chainrule.models import init_weight

__all__ = ["BookTwoLayerNet", "book_one_hot", "book_training_run"]


class _BookRelu:
    """The book's ReLU as it is written there: a copy, a boolean mask, and ``dout`` zeroed in place."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout[self.mask] = 0  # the book's in-place write (harmless here: nobody reuses dout)
        return dout


class _BookAffine:
    """The book's Affine: ``np.dot`` on whatever dtypes it gets (float32 data, float64 weights)."""

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.W, self.b = W, b

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx.reshape(*self.original_x_shape)


class _BookSoftmaxWithLoss:
    """The book's loss layer: softmax, then cross-entropy with log(y + 1e-7), labels sniffed by size."""

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        self.t = t
        shifted = x - np.max(x, axis=-1, keepdims=True)
        self.y = np.exp(shifted) / np.sum(np.exp(shifted), axis=-1, keepdims=True)
        labels = t.argmax(axis=1) if t.size == self.y.size else t
        n = self.y.shape[0]
        self.loss = -np.sum(np.log(self.y[np.arange(n), labels] + 1e-7)) / n
        return self.loss

    def backward(self, dout: float = 1) -> np.ndarray:
        n = self.t.shape[0]
        if self.t.size == self.y.size:
            return (self.y - self.t) / n
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        return dx / n


def book_one_hot(t: np.ndarray, n_classes: int) -> np.ndarray:
    """Class indices (N,) as the book's loader returns them with ``one_hot_label=True``: float64 (N, C)."""
    one_hot = np.zeros((t.shape[0], n_classes))
    one_hot[np.arange(t.shape[0]), t] = 1
    return one_hot


class BookTwoLayerNet:
    """The book's ch05 ``TwoLayerNet`` and training step, reproduced as the speed baseline.

    float64 weights, float32 data (as the book's loader gives), layers in an ordered dict written
    the way the book writes them (``_Book*`` above: deliberately not chainrule's layers, which are
    the thing being compared), every layer's input gradient computed, the loss computed a second
    time for the log, batches drawn with replacement.
    """

    def __init__(self, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray) -> None:
        self.params = {"W1": W1.astype(np.float64), "b1": b1.astype(np.float64)}
        self.params.update(W2=W2.astype(np.float64), b2=b2.astype(np.float64))
        self.layers: OrderedDict[str, Any] = OrderedDict()
        self.layers["Affine1"] = _BookAffine(self.params["W1"], self.params["b1"])
        self.layers["Relu1"] = _BookRelu()
        self.layers["Affine2"] = _BookAffine(self.params["W2"], self.params["b2"])
        self.last_layer = _BookSoftmaxWithLoss()

    def predict(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        return self.last_layer.forward(self.predict(x), t)

    def accuracy(self, x: np.ndarray, t: np.ndarray) -> float:
        y = np.argmax(self.predict(x), axis=1)
        if t.ndim != 1:
            t = np.argmax(t, axis=1)
        return float(np.sum(y == t) / x.shape[0])

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)
        a1, a2 = self.layers["Affine1"], self.layers["Affine2"]
        return {"W1": a1.dW, "b1": a1.db, "W2": a2.dW, "b2": a2.db}

    def train_step(self, x: np.ndarray, t: np.ndarray, rng: np.random.Generator, lr: float, batch: int) -> float:
        batch_mask = rng.choice(x.shape[0], batch)
        x_batch, t_batch = x[batch_mask], t[batch_mask]
        grads = self.gradient(x_batch, t_batch)
        for key in ("W1", "b1", "W2", "b2"):
            self.params[key] -= lr * grads[key]
        return self.loss(x_batch, t_batch)


def book_training_run(
    x_train: np.ndarray,
    t_train: np.ndarray,
    x_test: np.ndarray,
    t_test: np.ndarray,
    *,
    iters: int = 10000,
    batch_size: int = 100,
    lr: float = 0.1,
    seed: int = 0,
) -> dict[str, float]:
    """The book's ch05 ``train_neuralnet.py`` loop with the book's network, in float64.

    Labels one-hot in float64 (made before the clock starts, as the book's loader does), batches
    drawn with replacement, the loss computed again for the log, and train/test accuracy on the
    full sets every ``N / batch_size`` iterations. Returns seconds and the final test accuracy.
    """
    rng = np.random.default_rng(seed)
    d, c = x_train.shape[1], int(t_train.max()) + 1
    t_train, t_test = book_one_hot(t_train, c), book_one_hot(t_test, c)
    W1 = init_weight(rng, d, 50, 0.01, np.dtype(np.float64))
    W2 = init_weight(rng, 50, c, 0.01, np.dtype(np.float64))
    net = BookTwoLayerNet(W1, np.zeros(50), W2, np.zeros(c))
    iter_per_epoch = max(x_train.shape[0] // batch_size, 1)
    start = time.perf_counter()
    test_acc = float("nan")
    for i in range(iters):
        net.train_step(x_train, t_train, rng, lr, batch_size)
        if i % iter_per_epoch == 0:
            net.accuracy(x_train, t_train)
            test_acc = net.accuracy(x_test, t_test)
    test_acc = net.accuracy(x_test, t_test)
    return {"seconds": time.perf_counter() - start, "test_acc": test_acc}
