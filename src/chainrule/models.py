"""Networks assembled from layers: the book's ``TwoLayerNet``.

A network owns its parameter arrays once: ``net.params`` and the layers hold the same arrays,
so an in-place update of ``params`` (what the optimizers do) reaches the layers. Assigning a
new array to ``params[name]`` copies it into the existing one (shape checked), so the book's
``params[key] = params[key] - lr * grad[key]`` works too.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from chainrule._checks import check_labels
from chainrule._rng import as_generator
from chainrule.gradcheck import numerical_gradient
from chainrule.layers import Affine, Relu, SoftmaxWithLoss

__all__ = ["MODELS", "ParameterDict", "TwoLayerNet", "build_model", "init_weight"]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class ParameterDict(dict):
    """name → array. Setting an existing name copies into that array in place (same shape).

    Replacing the array object would silently detach it from the layer that uses it; copying
    keeps one owner per parameter.
    """

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self:
            super().__setitem__(key, value)
            return
        current = super().__getitem__(key)
        if value is current:
            return  # `params[k] -= g` assigns the same array back
        value = np.asarray(value)
        if value.shape != current.shape:
            raise ValueError(f"params[{key!r}]: expected shape {current.shape}, got {value.shape}")
        np.copyto(current, value, casting="same_kind")

    def update(self, other: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), **kwargs: Any) -> None:
        items = other.items() if isinstance(other, Mapping) else other
        for k, v in [*items, *kwargs.items()]:
            self[k] = v


def check_dtype(dtype: Any, where: str) -> np.dtype:
    """Return ``dtype`` as a NumPy dtype, accepting float32 and float64 only."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"{where}: dtype must be float32 or float64, got {dtype!r}") from exc
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"{where}: dtype must be float32 or float64, got {dt}")
    return dt


def init_weight(rng: np.random.Generator, fan_in: int, fan_out: int, std: float | str, dtype: np.dtype) -> np.ndarray:
    """A (fan_in, fan_out) weight matrix drawn from N(0, s²).

    ``std`` is a number (the book's ``weight_init_std``), ``"he"`` (s = √(2/fan_in), for ReLU)
    or ``"xavier"`` (s = √(1/fan_in), for sigmoid and tanh).
    """
    if isinstance(std, str):
        key = std.lower()
        if key == "he":
            scale = np.sqrt(2.0 / fan_in)
        elif key == "xavier":
            scale = np.sqrt(1.0 / fan_in)
        else:
            raise ValueError(f"weight init must be a positive number, 'he' or 'xavier', got {std!r}")
    else:
        scale = float(std)
        if not np.isfinite(scale) or scale <= 0:
            raise ValueError(f"weight init std must be a positive number, got {std!r}")
    return (scale * rng.standard_normal((fan_in, fan_out))).astype(dtype)


def _check_size(value: Any, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive integer, got {value!r}")
    return int(value)


class TwoLayerNet:
    """The book's two-layer network: Affine1 → Relu1 → Affine2, then SoftmaxWithLoss.

    Shapes: x (N, input_size) (or (N, d1, d2, ...) flattening to input_size); labels t as class
    indices (N,) or one-hot (N, output_size). ``params`` holds W1 (input_size, hidden_size),
    b1 (hidden_size,), W2 (hidden_size, output_size), b2 (output_size,).
    ``seed`` is an int, a ``np.random.Generator`` or None (fresh randomness).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float | str = 0.01,
        *,
        dtype: Any = np.float64,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        where = "TwoLayerNet"
        self.input_size = _check_size(input_size, "input_size", where)
        self.hidden_size = _check_size(hidden_size, "hidden_size", where)
        self.output_size = _check_size(output_size, "output_size", where)
        self.weight_init_std = weight_init_std
        self.dtype = check_dtype(dtype, where)
        rng = as_generator(seed)
        self.params = ParameterDict()
        self.params["W1"] = init_weight(rng, self.input_size, self.hidden_size, weight_init_std, self.dtype)
        self.params["b1"] = np.zeros(self.hidden_size, dtype=self.dtype)
        self.params["W2"] = init_weight(rng, self.hidden_size, self.output_size, weight_init_std, self.dtype)
        self.params["b2"] = np.zeros(self.output_size, dtype=self.dtype)

        self.layers: OrderedDict[str, Any] = OrderedDict()
        self.layers["Affine1"] = Affine(self.params["W1"], self.params["b1"])
        self.layers["Relu1"] = Relu()
        self.layers["Affine2"] = Affine(self.params["W2"], self.params["b2"])
        self.last_layer = SoftmaxWithLoss()

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        """Non-trainable state saved in checkpoints (none for this network)."""
        return {}

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments as JSON-ready values (used by checkpoints and ``copy``)."""
        return {
            "model": "two-layer",
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "output_size": self.output_size,
            "weight_init_std": self.weight_init_std,
            "dtype": self.dtype.name,
        }

    def copy(self, dtype: Any = None) -> TwoLayerNet:
        """An independent copy of the network, optionally converted to another float dtype."""
        kwargs = {k: v for k, v in self.config.items() if k not in ("model", "dtype")}
        new = type(self)(**kwargs, dtype=self.dtype if dtype is None else dtype, seed=0)
        for k, v in self.params.items():
            new.params[k] = v
        return new

    def _as_input(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)  # uint8 images or float64 data meet a float32 net
        return x

    def predict(self, x: Any) -> np.ndarray:
        """Scores (N, output_size) before softmax."""
        x = self._as_input(x)
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x: Any, t: Any) -> float:
        """Mean cross-entropy of the softmax of ``predict(x)`` against ``t``."""
        return self.last_layer.forward(self.predict(x), t)

    def accuracy(self, x: Any, t: Any, *, batch_size: int | None = None) -> float:
        """Fraction of samples whose highest score is the label (indices or one-hot).

        ``batch_size`` bounds memory on large sets by predicting in chunks.
        """
        x = np.asarray(x)
        t = check_labels(t, x.shape[0] if x.ndim else 0, self.output_size, f"{type(self).__name__}.accuracy")
        labels = t if t.ndim == 1 else np.argmax(t, axis=1)
        n = x.shape[0]
        if n == 0:
            raise ValueError(f"{type(self).__name__}.accuracy: x holds no samples")
        step = n if batch_size is None else _check_size(batch_size, "batch_size", "accuracy")
        correct = 0
        for start in range(0, n, step):
            scores = self.predict(x[start : start + step])
            correct += int(np.count_nonzero(np.argmax(scores, axis=1) == labels[start : start + step]))
        return correct / n

    def gradient(self, x: Any, t: Any) -> dict[str, np.ndarray]:
        """Backprop gradients of ``loss(x, t)``, keyed like ``params``."""
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        layers = list(self.layers.values())
        for layer in reversed(layers[1:]):
            dout = layer.backward(dout)
        layers[0].backward(dout, input_grad=False)  # no gradient is needed for the data
        return {
            "W1": self.layers["Affine1"].dW,
            "b1": self.layers["Affine1"].db,
            "W2": self.layers["Affine2"].dW,
            "b2": self.layers["Affine2"].db,
        }

    def numerical_gradient(self, x: Any, t: Any) -> dict[str, np.ndarray]:
        """Central-difference gradients of ``loss(x, t)`` (slow: two losses per parameter entry)."""

        def loss_w(_: np.ndarray) -> float:
            return self.loss(x, t)

        return {k: numerical_gradient(loss_w, p) for k, p in self.params.items()}


# config["model"] → class; every model class takes its config (less "model") as keyword arguments.
MODELS: dict[str, type] = {"two-layer": TwoLayerNet}


def build_model(config: Mapping[str, Any], *, seed: int | np.random.Generator | None = None) -> Any:
    """Rebuild an (untrained) model from its ``config`` dict, as stored in a checkpoint."""
    kind = config.get("model")
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; expected one of {sorted(MODELS)}")
    kwargs = {k: v for k, v in config.items() if k != "model"}
    try:
        return MODELS[kind](**kwargs, seed=seed)
    except TypeError as exc:
        raise ValueError(f"model config for {kind!r} does not match its constructor: {exc}") from exc
