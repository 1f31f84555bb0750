"""Fully connected networks: the book's ``TwoLayerNet`` (chapter 5) and ``MultiLayerNet`` (chapter 6)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import numpy as np

from chainrule._checks import check_bool, check_float_dtype, check_fraction, check_int, check_real, is_real
from chainrule._rng import as_generator
from chainrule.layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, SoftmaxWithLoss, Tanh
from chainrule.models.base import Network, ParameterDict, init_weight

__all__ = ["ACTIVATIONS", "MultiLayerNet", "MultiLayerNetExtend", "TwoLayerNet"]


class TwoLayerNet(Network):
    """The book's two-layer network: Affine1 → Relu1 → Affine2, then SoftmaxWithLoss.

    Shapes: x (N, input_size) (or (N, d1, d2, ...) flattening to input_size); labels t as class
    indices (N,) or one-hot (N, output_size). ``params`` holds W1 (input_size, hidden_size),
    b1 (hidden_size,), W2 (hidden_size, output_size), b2 (output_size,).
    ``seed`` is an int, a ``np.random.Generator`` or None (drawn from NumPy's global generator).
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

    @classmethod
    def _tensor_shapes(cls, args: Mapping[str, Any]) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
        where = cls.__name__
        d = check_int(args["input_size"], "input_size", where)
        h = check_int(args["hidden_size"], "hidden_size", where)
        c = check_int(args["output_size"], "output_size", where)
        return {"W1": (d, h), "b1": (h,), "W2": (h, c), "b2": (c,)}, {}


# activation name → layer class (MultiLayerNet's ``activation``)
ACTIVATIONS: dict[str, type] = {"relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh}


class MultiLayerNet(Network):
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
                bn = self._batch_norm_layer(self.params[f"gamma{i}"], self.params[f"beta{i}"])
                self.layers[f"BatchNorm{i}"] = bn
                self._buffers.update({f"{name}{i}": arr for name, arr in bn.buffers.items()})
            self.layers[f"Activation{i}"] = ACTIVATIONS[self.activation]()
            if self.dropout:
                self.layers[f"Dropout{i}"] = self._dropout_layer()
        self.layers[f"Affine{n_affine}"] = Affine(self.params[f"W{n_affine}"], self.params[f"b{n_affine}"])
        self.last_layer = SoftmaxWithLoss()
        self._decayed = tuple(f"W{i}" for i in range(1, n_affine + 1))
        self._link_grads()

    @classmethod
    def _tensor_shapes(cls, args: Mapping[str, Any]) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
        where = cls.__name__
        hidden = args["hidden_size_list"] if "hidden_size_list" in args else args["hidden_sizes"]
        batch_norm = args["use_batchnorm"] if "use_batchnorm" in args else args["batch_norm"]
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, (list, tuple)):
            raise ValueError(f"{where}: hidden_sizes must be a list of positive integers, got {hidden!r}")
        hidden = [check_int(h, "every hidden size", where) for h in hidden]
        sizes = [
            check_int(args["input_size"], "input_size", where),
            *hidden,
            check_int(args["output_size"], "output_size", where),
        ]
        params: dict[str, tuple[int, ...]] = {}
        for i in range(1, len(sizes)):
            params[f"W{i}"] = (sizes[i - 1], sizes[i])
            params[f"b{i}"] = (sizes[i],)
        buffers: dict[str, tuple[int, ...]] = {}
        if check_bool(batch_norm, "batch_norm", where):
            for i, size in enumerate(hidden, start=1):
                params[f"gamma{i}"] = params[f"beta{i}"] = (size,)
                buffers[f"running_mean{i}"] = buffers[f"running_var{i}"] = (size,)
        return params, buffers

    def _batch_norm_layer(self, gamma: np.ndarray, beta: np.ndarray) -> BatchNormalization:
        return BatchNormalization(gamma, beta)

    def _dropout_layer(self) -> Dropout:
        return Dropout(self.dropout, seed=self.rng)


def _check_weight_std(value: Any, where: str) -> float:
    if not is_real(value):
        raise ValueError(f"{where}: weight_init must be a positive number, 'he' or 'xavier', got {value!r}")
    return float(value)  # init_weight checks that it is positive and finite


class MultiLayerNetExtend(MultiLayerNet):
    """The book's ``MultiLayerNetExtend`` (chapter 6), with its signature and its layers' behaviour.

    ``MultiLayerNetExtend(input_size, hidden_size_list, output_size, activation='relu',
    weight_init_std='relu', weight_decay_lambda=0, use_dropout=False, dropout_ration=0.5,
    use_batchnorm=False)`` (the book's spelling ``dropout_ration`` included), plus ``dtype`` and
    ``seed``. It is :class:`MultiLayerNet` with the book's layer settings, so the book's figures
    come out: Dropout keeps training outputs unscaled and multiplies by (1 − p) in evaluation
    (``Dropout(inverted=False)``), and BatchNormalization uses eps 1e-6 with the running variance
    starting at 0 (chainrule's own: eps 1e-5, variance starting at 1).
    """

    model_name: ClassVar[str] = "mlp-extend"
    config_keys: ClassVar[tuple[str, ...]] = (
        "input_size",
        "hidden_size_list",
        "output_size",
        "activation",
        "weight_init_std",
        "weight_decay_lambda",
        "use_dropout",
        "dropout_ration",
        "use_batchnorm",
        "dtype",
    )
    #: The book's ``10e-7``.
    BOOK_BN_EPS = 1e-6

    def __init__(
        self,
        input_size: int,
        hidden_size_list: Iterable[int],
        output_size: int,
        activation: str = "relu",
        weight_init_std: float | str = "relu",
        weight_decay_lambda: float = 0,
        use_dropout: bool = False,
        dropout_ration: float = 0.5,
        use_batchnorm: bool = False,
        *,
        dtype: Any = np.float64,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        where = "MultiLayerNetExtend"
        self.use_dropout = check_bool(use_dropout, "use_dropout", where)
        self.dropout_ration = check_fraction(dropout_ration, "dropout_ration", where)
        super().__init__(
            input_size,
            hidden_size_list,
            output_size,
            activation,
            weight_init_std,
            batch_norm=use_batchnorm,
            dropout=self.dropout_ration if self.use_dropout else 0.0,
            weight_decay=weight_decay_lambda,
            dtype=dtype,
            seed=seed,
        )
        self.weight_init_std = weight_init_std

    @property
    def hidden_size_list(self) -> list[int]:
        return self.hidden_sizes

    @property
    def weight_decay_lambda(self) -> float:
        return self.weight_decay

    @property
    def use_batchnorm(self) -> bool:
        return self.batch_norm

    def _batch_norm_layer(self, gamma: np.ndarray, beta: np.ndarray) -> BatchNormalization:
        return BatchNormalization(gamma, beta, running_var=np.zeros_like(gamma), eps=self.BOOK_BN_EPS)

    def _dropout_layer(self) -> Dropout:
        return Dropout(self.dropout, inverted=False, seed=self.rng)
