"""The book's ch05 and ch07 code reproduced: the speed baselines the benchmarks compare chainrule with.

``TwoLayerNet`` and its layers as the book writes them (``np.dot`` on float64 weights and
float32 data, a ReLU that copies and zeroes ``dout`` in place, a softmax-with-loss that sniffs
one-hot labels by size and takes log(y + 1e-7)), the training step of ``train_neuralnet.py``
(batches drawn with replacement, the loss computed again for the log) and its whole run.
Chapter 7's structure likewise: im2col and col2im with Python loops over the filter's
offsets into a float64 (N, C, FH, FW, OH, OW) buffer, the convolution as ``np.dot(col, W)``,
max pooling by ``argmax`` over im2col rows, and ``SimpleConvNet`` in float64.
Deliberately not chainrule's layers, which are the thing being compared; never installed.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import numpy as np

from chainrule.models import init_weight

__all__ = ["BookSimpleConvNet", "BookTwoLayerNet", "book_col2im", "book_im2col", "book_one_hot", "book_training_run"]


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


def book_im2col(x: np.ndarray, fh: int, fw: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """The book's im2col: a float64 (N, C, FH, FW, OH, OW) buffer filled offset by offset, then
    transposed into one row per window."""
    n, c, h, w = x.shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((n, c, fh, fw, oh, ow))
    for i in range(fh):
        for j in range(fw):
            col[:, :, i, j, :, :] = img[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1)


def book_col2im(col: np.ndarray, shape: tuple[int, ...], fh: int, fw: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """The book's col2im: rows back into a zero image, offset by offset, overlaps added."""
    n, c, h, w = shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    col = col.reshape(n, oh, ow, c, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1))
    for i in range(fh):
        for j in range(fw):
            img[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride] += col[:, :, i, j, :, :]
    return img[:, :, pad : h + pad, pad : w + pad]


class _BookConvolution:
    """The book's Convolution: im2col, ``np.dot`` with the reshaped filters, col2im for dx."""

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0) -> None:
        self.W, self.b, self.stride, self.pad = W, b, stride, pad

    def forward(self, x: np.ndarray) -> np.ndarray:
        fn, _, fh, fw = self.W.shape
        n, _, h, w = x.shape
        oh = 1 + (h + 2 * self.pad - fh) // self.stride
        ow = 1 + (w + 2 * self.pad - fw) // self.stride
        self.x = x
        self.col = book_im2col(x, fh, fw, self.stride, self.pad)
        self.col_W = self.W.reshape(fn, -1).T
        out = np.dot(self.col, self.col_W) + self.b
        return out.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        fn, c, fh, fw = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
        self.db = np.sum(dout, axis=0)
        self.dW = np.dot(self.col.T, dout).transpose(1, 0).reshape(fn, c, fh, fw)
        dcol = np.dot(dout, self.col_W.T)
        return book_col2im(dcol, self.x.shape, fh, fw, self.stride, self.pad)


class _BookPooling:
    """The book's max Pooling: im2col rows of pool_h·pool_w, argmax, and a scatter back through col2im."""

    def __init__(self, pool_h: int, pool_w: int, stride: int = 2, pad: int = 0) -> None:
        self.pool_h, self.pool_w, self.stride, self.pad = pool_h, pool_w, stride, pad

    def forward(self, x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        oh, ow = 1 + (h - self.pool_h) // self.stride, 1 + (w - self.pool_w) // self.stride
        col = book_im2col(x, self.pool_h, self.pool_w, self.stride, self.pad).reshape(-1, self.pool_h * self.pool_w)
        self.x, self.arg_max = x, np.argmax(col, axis=1)
        return np.max(col, axis=1).reshape(n, oh, ow, c).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout = dout.transpose(0, 2, 3, 1)
        size = self.pool_h * self.pool_w
        dmax = np.zeros((dout.size, size))
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        dcol = dmax.reshape(dout.shape + (size,)).reshape(dout.shape[0] * dout.shape[1] * dout.shape[2], -1)
        return book_col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad)


class BookSimpleConvNet:
    """The book's ch07 ``SimpleConvNet`` (Conv 30×5×5 → Relu → Pool 2×2 → Affine 100 → Relu → Affine 10),
    float64 weights, every layer's input gradient computed, as the speed baseline."""

    def __init__(self, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray, W3: np.ndarray, b3: np.ndarray):
        self.params = {k: v.astype(np.float64) for k, v in dict(W1=W1, b1=b1, W2=W2, b2=b2, W3=W3, b3=b3).items()}
        p = self.params
        self.layers: OrderedDict[str, Any] = OrderedDict()
        self.layers["Conv1"] = _BookConvolution(p["W1"], p["b1"])
        self.layers["Relu1"] = _BookRelu()
        self.layers["Pool1"] = _BookPooling(2, 2, stride=2)
        self.layers["Affine1"] = _BookAffine(p["W2"], p["b2"])
        self.layers["Relu2"] = _BookRelu()
        self.layers["Affine2"] = _BookAffine(p["W3"], p["b3"])
        self.last_layer = _BookSoftmaxWithLoss()

    def predict(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        return self.last_layer.forward(self.predict(x), t)

    def accuracy(self, x: np.ndarray, t: np.ndarray, batch_size: int = 100) -> float:
        """The book's accuracy: predicted in batches of 100 (its im2col of 10,000 images would not fit)."""
        correct = 0
        for i in range(0, x.shape[0], batch_size):
            y = np.argmax(self.predict(x[i : i + batch_size]), axis=1)
            correct += int(np.sum(y == t[i : i + batch_size]))
        return correct / x.shape[0]

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)
        conv, a1, a2 = self.layers["Conv1"], self.layers["Affine1"], self.layers["Affine2"]
        return {"W1": conv.dW, "b1": conv.db, "W2": a1.dW, "b2": a1.db, "W3": a2.dW, "b3": a2.db}

    def train_step(self, x: np.ndarray, t: np.ndarray, idx: np.ndarray, lr: float) -> float:
        grads = self.gradient(x[idx], t[idx])
        for key, g in grads.items():
            self.params[key] -= lr * g
        return self.last_layer.loss
