"""Networks assembled from layers: the book's ``TwoLayerNet`` and chapter 6's ``MultiLayerNet``.

A network owns its parameter arrays once: ``net.params`` and the layers hold the same arrays,
so an in-place update of ``params`` (what the optimizers do) reaches the layers. Assigning a
new array to ``params[name]`` copies it into the existing one (shape checked), so the book's
``params[key] = params[key] - lr * grad[key]`` works too.

Non-trainable state (batch normalization's running statistics) is exposed as ``net.buffers``,
name → the live array, which a checkpoint saves and restores in place.
"""

from __future__ import annotations

import copy as _copy
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

import numpy as np

from chainrule._checks import (
    FLOAT_DTYPES,
    check_bool,
    check_float_dtype,
    check_fraction,
    check_int,
    check_labels,
    check_real,
    is_real,
)
from chainrule._rng import as_generator
from chainrule.gradcheck import numerical_gradient
from chainrule.layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, SoftmaxWithLoss, Tanh

__all__ = [
    "ACTIVATIONS",
    "DTYPE_NAMES",
    "MODELS",
    "MODEL_NAMES",
    "MultiLayerNet",
    "ParameterDict",
    "TwoLayerNet",
    "build_model",
    "init_weight",
]

#: The float dtypes a network can be built in, by name (``dtype=`` and the CLI's ``--dtype``).
DTYPE_NAMES: tuple[str, ...] = tuple(dt.name for dt in FLOAT_DTYPES)
_MODAL_LAYERS = (Dropout, BatchNormalization)  # layers whose forward takes train_flg


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


def init_weight(rng: np.random.Generator, fan_in: int, fan_out: int, std: float | str, dtype: np.dtype) -> np.ndarray:
    """A (fan_in, fan_out) weight matrix drawn from N(0, s²).

    ``std`` is a number (the book's ``weight_init_std``), ``"he"`` (s = √(2/fan_in), for ReLU)
    or ``"xavier"`` (s = √(1/fan_in), for sigmoid and tanh); the book's aliases ``"relu"`` and
    ``"sigmoid"`` name the same two.
    """
    if isinstance(std, str):
        key = std.lower()
        if key in ("he", "relu"):
            scale = np.sqrt(2.0 / fan_in)
        elif key in ("xavier", "sigmoid"):
            scale = np.sqrt(1.0 / fan_in)
        else:
            raise ValueError(
                f"weight init must be a positive number, 'he' or 'xavier' (or the book's 'relu', 'sigmoid'), "
                f"got {std!r}"
            )
    else:
        scale = check_real(std, "std", "weight init", low=0.0, low_open=True)
    return (scale * rng.standard_normal((fan_in, fan_out))).astype(dtype)


N = TypeVar("N", bound="_Network")


class _Network:
    """What the book's networks share: layers in order, then SoftmaxWithLoss.

    A subclass's ``__init__`` sets ``dtype``, ``output_size``, ``params`` (a ParameterDict),
    ``layers`` (an OrderedDict whose first layer is an Affine), ``last_layer``, optionally
    ``_buffers`` (name → running-statistic array) and ``weight_decay`` with ``_decayed`` (the
    weight names it applies to), then calls ``_link_grads()``; it also defines ``config``.
    """

    model_name: ClassVar[str] = ""
    #: The constructor's arguments, in order, as stored in ``config`` (every one is an attribute).
    config_keys: ClassVar[tuple[str, ...]] = ()
    weight_decay: float = 0.0
    _decayed: tuple[str, ...] = ()
    _buffers: Mapping[str, np.ndarray] = MappingProxyType({})
    _dropout_off = False  # set inside frozen()

    output_size: int
    dtype: np.dtype
    params: ParameterDict
    layers: OrderedDict[str, Any]
    last_layer: SoftmaxWithLoss

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments as JSON-ready values: ``{"model": model_name, key: value for
        config_keys}`` (checkpoints store it; ``build_model`` and ``copy`` rebuild from it)."""
        out: dict[str, Any] = {"model": self.model_name}
        for key in self.config_keys:
            value = getattr(self, key)
            out[key] = value.name if isinstance(value, np.dtype) else list(value) if isinstance(value, list) else value
        return out

    @property
    def buffers(self) -> ParameterDict:
        """Non-trainable state saved in checkpoints: name → the live array (assigning copies in place)."""
        return ParameterDict(self._buffers)

    def _link_grads(self) -> None:
        """Find, for each parameter, the layer holding that very array and where its gradient appears.

        ``_grad_refs`` holds ``(key, layer, name, attr)``: after backward the gradient of
        ``params[key]`` is ``getattr(layer, attr)`` when the layer's class names it in
        ``grad_attrs``, else ``layer.grads[name]`` (attr None).
        """
        owner = {id(arr): (layer, name) for layer in self.layers.values() for name, arr in _params_of(layer)}
        refs = []
        for key, p in self.params.items():
            layer, name = owner[id(p)]
            refs.append((key, layer, name, getattr(type(layer), "grad_attrs", {}).get(name)))
        self._grad_refs = tuple(refs)

    def copy(self: N, dtype: Any = None) -> N:
        """An independent copy (parameters and buffers), optionally converted to another float dtype."""
        kwargs = {k: v for k, v in self.config.items() if k not in ("model", "dtype")}
        new = type(self)(**kwargs, dtype=self.dtype if dtype is None else dtype, seed=0)
        new.params.update(self.params)  # ParameterDict copies into the new arrays
        new.buffers.update(self.buffers)
        return new

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Make the training loss a deterministic function of the parameters for a block.

        Inside, training-mode forwards skip dropout (batch normalization still uses the batch
        statistics), and on exit the buffers (running statistics) are restored, so the network
        ends as it was. ``numerical_gradient`` and ``gradient_check`` run inside it.
        """
        saved = {k: v.copy() for k, v in self._buffers.items()}
        was_off = self._dropout_off
        self._dropout_off = True
        try:
            yield
        finally:
            self._dropout_off = was_off
            self.buffers.update(saved)

    def _as_input(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)  # uint8 images or float64 data meet a float32 net
        return x

    def predict(self, x: Any, train_flg: bool = False) -> np.ndarray:
        """Scores (N, output_size) before softmax; ``train_flg`` puts Dropout and BatchNormalization in training."""
        x = self._as_input(x)
        for layer in self.layers.values():
            if isinstance(layer, _MODAL_LAYERS):  # one check for the common case of neither
                x = layer.forward(x, train_flg and not (self._dropout_off and isinstance(layer, Dropout)))
            else:
                x = layer.forward(x)
        return x

    def loss(self, x: Any, t: Any, train_flg: bool = False) -> float:
        """Mean cross-entropy of the softmax of ``predict(x, train_flg)`` against ``t``, plus ½λ·Σ‖W‖²."""
        loss = self.last_layer.forward(self.predict(x, train_flg), t)
        if self.weight_decay:
            penalty = 0.0
            for key in self._decayed:
                W = self.params[key]
                penalty += float(np.vdot(W, W))
            loss += 0.5 * self.weight_decay * penalty
        return loss

    def accuracy(self, x: Any, t: Any, *, batch_size: int | None = None) -> float:
        """Fraction of samples whose highest score (in evaluation mode) is the label (indices or one-hot).

        ``batch_size`` bounds memory on large sets by predicting in chunks.
        """
        x = np.asarray(x)
        t = check_labels(t, x.shape[0] if x.ndim else 0, self.output_size, f"{type(self).__name__}.accuracy")
        labels = t if t.ndim == 1 else np.argmax(t, axis=1)
        n = x.shape[0]
        if n == 0:
            raise ValueError(f"{type(self).__name__}.accuracy: x holds no samples")
        step = n if batch_size is None else check_int(batch_size, "batch_size", "accuracy")
        correct = 0
        for start in range(0, n, step):
            scores = self.predict(x[start : start + step])
            correct += int(np.count_nonzero(np.argmax(scores, axis=1) == labels[start : start + step]))
        return correct / n

    def gradient(self, x: Any, t: Any) -> dict[str, np.ndarray]:
        """Backprop gradients of ``loss(x, t, train_flg=True)``, keyed like ``params`` (weight decay included).

        After it, ``last_layer.loss`` holds the mini-batch's cross-entropy (without the weight-decay term).
        """
        self.last_layer.forward(self.predict(x, True), t)  # the penalty's value is not needed here
        dout = self.last_layer.backward(1)
        layers = tuple(self.layers.values())
        for layer in layers[:0:-1]:
            dout = layer.backward(dout)
        layers[0].backward(dout, input_grad=False)  # no gradient is needed for the data
        grads = {}
        for key, layer, name, attr in self._grad_refs:
            grads[key] = getattr(layer, attr) if attr else layer.grads[name]
        if self.weight_decay:
            for key in self._decayed:
                grads[key] = grads[key] + self.weight_decay * self.params[key]  # the layer's dW stays as computed
        return grads

    def numerical_gradient(self, x: Any, t: Any) -> dict[str, np.ndarray]:
        """Central-difference gradients of ``loss(x, t, train_flg=True)`` (slow: two losses per entry).

        Runs inside ``frozen()``: dropout is off, so compare with ``gradient`` under ``frozen()``
        too (``gradient_check`` does); batch normalization uses the batch statistics, as in training.
        """
        x = self._as_input(x)

        def loss_w(_: np.ndarray) -> float:
            return self.loss(x, t, train_flg=True)

        with self.frozen():
            return {k: numerical_gradient(loss_w, p) for k, p in self.params.items()}


def _params_of(layer: Any) -> Iterable[tuple[str, np.ndarray]]:
    return (getattr(layer, "params", None) or {}).items()


class TwoLayerNet(_Network):
    """The book's two-layer network: Affine1 → Relu1 → Affine2, then SoftmaxWithLoss.

    Shapes: x (N, input_size) (or (N, d1, d2, ...) flattening to input_size); labels t as class
    indices (N,) or one-hot (N, output_size). ``params`` holds W1 (input_size, hidden_size),
    b1 (hidden_size,), W2 (hidden_size, output_size), b2 (output_size,).
    ``seed`` is an int, a ``np.random.Generator`` or None (fresh randomness).
    """

    model_name: ClassVar[str] = "two-layer"
    config_keys: ClassVar[tuple[str, ...]] = ("input_size", "hidden_size", "output_size", "weight_init_std", "dtype")

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
        self.input_size = check_int(input_size, "input_size", where)
        self.hidden_size = check_int(hidden_size, "hidden_size", where)
        self.output_size = check_int(output_size, "output_size", where)
        self.weight_init_std = weight_init_std
        self.dtype = check_float_dtype(dtype, where)
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
        self._link_grads()


# activation name → layer class (MultiLayerNet's ``activation``)
ACTIVATIONS: dict[str, type] = {"relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh}


class MultiLayerNet(_Network):
    """A fully connected network of any depth with chapter 6's tools (the book's MultiLayerNetExtend).

    Layers, for each hidden layer i = 1 … len(hidden_sizes): Affine{i} → [BatchNorm{i}] →
    Activation{i} (Relu, Sigmoid or Tanh) → [Dropout{i}]; then Affine{L} (L = len(hidden_sizes) + 1)
    and SoftmaxWithLoss. Shapes: x (N, input_size) or (N, d1, d2, ...) flattening to input_size;
    labels t as class indices (N,) or one-hot (N, output_size).

    ``params``: W1 … W{L}, b1 … b{L}, then gamma{i}, beta{i} per hidden layer when ``batch_norm``;
    ``buffers``: running_mean{i}, running_var{i} when ``batch_norm``.
    ``weight_init``: a std, ``"he"`` or ``"xavier"`` (or the book's ``"relu"``, ``"sigmoid"``).
    ``dropout``: the ratio of every Dropout layer (0: none; inverted dropout, see ``Dropout``).
    ``weight_decay`` λ: the loss adds ½λ·Σ‖W‖² over the weight matrices and each dW gets λ·W.
    ``seed`` (int, Generator or None) makes the one generator, ``self.rng``, that draws the
    initial weights and every dropout mask: the same seed gives the same run.

    ``predict``/``loss`` take ``train_flg`` (default False: evaluation); ``gradient`` trains
    (dropout masks drawn, running statistics updated); ``accuracy`` evaluates.
    """

    model_name: ClassVar[str] = "mlp"
    config_keys: ClassVar[tuple[str, ...]] = (
        "input_size",
        "hidden_sizes",
        "output_size",
        "activation",
        "weight_init",
        "batch_norm",
        "dropout",
        "weight_decay",
        "dtype",
    )

    def __init__(
        self,
        input_size: int,
        hidden_sizes: Iterable[int],
        output_size: int,
        activation: str = "relu",
        weight_init: float | str = "he",
        *,
        batch_norm: bool = False,
        dropout: float = 0.0,
        weight_decay: float = 0.0,
        dtype: Any = np.float64,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        where = "MultiLayerNet"
        self.input_size = check_int(input_size, "input_size", where)
        if isinstance(hidden_sizes, (str, bytes)) or not isinstance(hidden_sizes, Iterable):
            raise ValueError(f"{where}: hidden_sizes must be a list of positive integers, got {hidden_sizes!r}")
        self.hidden_sizes = [check_int(h, "every hidden size", where) for h in hidden_sizes]
        self.output_size = check_int(output_size, "output_size", where)
        if not isinstance(activation, str) or activation.lower() not in ACTIVATIONS:
            raise ValueError(f"{where}: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.activation = activation.lower()
        self.weight_init = weight_init if isinstance(weight_init, str) else _check_weight_std(weight_init, where)
        self.batch_norm = check_bool(batch_norm, "batch_norm", where)
        self.dropout = check_fraction(dropout, "dropout", where, closed=False)
        if not is_real(weight_decay):
            raise ValueError(f"{where}: weight_decay must be a number >= 0, got {weight_decay!r}")
        self.weight_decay = check_real(weight_decay, "weight_decay", where, low=0.0, expected="a finite number >= 0")
        self.dtype = check_float_dtype(dtype, where)
        self.rng = as_generator(seed)

        sizes = [self.input_size, *self.hidden_sizes, self.output_size]
        n_affine = len(sizes) - 1
        self.params = ParameterDict()
        for i in range(1, n_affine + 1):
            self.params[f"W{i}"] = init_weight(self.rng, sizes[i - 1], sizes[i], self.weight_init, self.dtype)
            self.params[f"b{i}"] = np.zeros(sizes[i], dtype=self.dtype)
        if self.batch_norm:
            for i, size in enumerate(self.hidden_sizes, start=1):
                self.params[f"gamma{i}"] = np.ones(size, dtype=self.dtype)
                self.params[f"beta{i}"] = np.zeros(size, dtype=self.dtype)

        self.layers: OrderedDict[str, Any] = OrderedDict()
        self._buffers: dict[str, np.ndarray] = {}
        for i in range(1, n_affine):
            self.layers[f"Affine{i}"] = Affine(self.params[f"W{i}"], self.params[f"b{i}"])
            if self.batch_norm:
                bn = BatchNormalization(self.params[f"gamma{i}"], self.params[f"beta{i}"])
                self.layers[f"BatchNorm{i}"] = bn
                self._buffers.update({f"{name}{i}": arr for name, arr in bn.buffers.items()})
            self.layers[f"Activation{i}"] = ACTIVATIONS[self.activation]()
            if self.dropout:
                self.layers[f"Dropout{i}"] = Dropout(self.dropout, seed=self.rng)
        self.layers[f"Affine{n_affine}"] = Affine(self.params[f"W{n_affine}"], self.params[f"b{n_affine}"])
        self.last_layer = SoftmaxWithLoss()
        self._decayed = tuple(f"W{i}" for i in range(1, n_affine + 1))
        self._link_grads()

    def copy(self, dtype: Any = None) -> MultiLayerNet:
        """An independent copy: parameters, buffers and the generator's state (so it draws the same masks)."""
        new = super().copy(dtype)
        new.rng = _copy.deepcopy(self.rng)
        for layer in new.layers.values():
            if isinstance(layer, Dropout):
                layer.rng = new.rng
        return new


def _check_weight_std(value: Any, where: str) -> float:
    if not is_real(value):
        raise ValueError(f"{where}: weight_init must be a positive number, 'he' or 'xavier', got {value!r}")
    return float(value)  # init_weight checks that it is positive and finite


# config["model"] → class; every model class takes its config (less "model") as keyword arguments.
MODELS: dict[str, type[_Network]] = {cls.model_name: cls for cls in (TwoLayerNet, MultiLayerNet)}
#: The model names of ``config["model"]``, checkpoints and the CLI's ``--model``.
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)


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
