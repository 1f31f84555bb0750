"""Convolutional networks: the book's ``SimpleConvNet`` (chapter 7.5) and ``DeepConvNet`` (chapter 8.1).

Both take images (N, C, H, W), as ``load_mnist(flatten=False)`` gives them, and have the
``TwoLayerNet`` interface: ``params``, ``layers``, ``last_layer``, ``predict``, ``loss``,
``accuracy``, ``gradient``, ``numerical_gradient``, plus ``dtype`` and ``seed``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from chainrule._checks import check_float_dtype, check_int
from chainrule._rng import as_generator
from chainrule.layers import Affine, Convolution, Dropout, Pooling, Relu, SoftmaxWithLoss
from chainrule.models.base import Network, ParameterDict, init_array, init_weight

__all__ = ["DEEP_CONV_PARAMS", "DeepConvNet", "SimpleConvNet"]

#: The workspace a convolution may take per evaluation chunk: a network predicts as many
#: samples at once as keep its largest window matrix (C·FH·FW × OH·OW per sample) under this.
#: Cache-sized chunks are faster than big ones (SimpleConvNet on 10,000 test images: 0.71 s in
#: chunks of 145 against 0.95 s in chunks of 1,165; DeepConvNet 2.2× faster) and bound memory.
EVAL_WORKSPACE_BYTES = 8 * 2**20
_CONV_KEYS = ("filter_num", "filter_size", "pad", "stride")

#: The book's DeepConvNet filters (ch08/deep_convnet.py): the fourth convolution pads by 2, so
#: 28×28 images reach the last pooling at 8×8 and the first Affine layer sees 64·4·4 inputs.
DEEP_CONV_PARAMS: tuple[dict[str, int], ...] = (
    {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 32, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 32, "filter_size": 3, "pad": 2, "stride": 1},
    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
)


def _check_input_dim(input_dim: Any, where: str) -> tuple[int, int, int]:
    if isinstance(input_dim, (str, bytes)) or not hasattr(input_dim, "__len__") or len(input_dim) != 3:
        raise ValueError(f"{where}: input_dim must be (channels, height, width), got {input_dim!r}")
    return tuple(check_int(v, "every entry of input_dim", where) for v in input_dim)  # type: ignore[return-value]


def _check_conv_param(param: Any, name: str, where: str) -> dict[str, int]:
    if not isinstance(param, Mapping):
        raise ValueError(f"{where}: {name} must be a dict with {', '.join(_CONV_KEYS)}, got {param!r}")
    unknown = [k for k in param if k not in _CONV_KEYS]
    missing = [k for k in _CONV_KEYS if k not in param]
    if unknown or missing:
        raise ValueError(
            f"{where}: {name} must have exactly the keys {', '.join(_CONV_KEYS)}"
            + (f"; unknown {unknown}" if unknown else "")
            + (f"; missing {missing}" if missing else "")
        )
    return {
        "filter_num": check_int(param["filter_num"], f"{name}['filter_num']", where),
        "filter_size": check_int(param["filter_size"], f"{name}['filter_size']", where),
        "pad": check_int(param["pad"], f"{name}['pad']", where, minimum=0),
        "stride": check_int(param["stride"], f"{name}['stride']", where),
    }


class _ConvNetwork(Network):
    """What the two convolutional networks share: image input, chunked evaluation, the generator."""

    input_dim: tuple[int, int, int]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.input_dim

    def _as_input(self, x: Any) -> np.ndarray:
        x = super()._as_input(x)
        if x.ndim != 4 or x.shape[1:] != self.input_dim:
            raise ValueError(
                f"{type(self).__name__}: expected images of shape (N, {', '.join(map(str, self.input_dim))}), "
                f"got x.shape={x.shape} (load_mnist(flatten=False) gives (N, 1, 28, 28))"
            )
        return x

    def _set_eval_rows(self) -> None:
        """Choose ``eval_rows`` from the largest per-sample window matrix of the convolutions."""
        shape = (1, *self.input_dim)
        largest = 1
        for layer in self.layers.values():
            if isinstance(layer, (Convolution, Pooling)):
                if isinstance(layer, Convolution):
                    fn, c, fh, fw = layer.W.shape
                    out = layer.output_shape(shape)
                    largest = max(largest, c * fh * fw * out[2] * out[3] * self.dtype.itemsize)
                shape = layer.output_shape(shape)
        self.eval_rows = max(1, EVAL_WORKSPACE_BYTES // largest)


class SimpleConvNet(_ConvNetwork):
    """The book's convolutional network: Conv → Relu → Pool → Affine → Relu → Affine, then SoftmaxWithLoss.

    Shapes: x (N, C, H, W) = (N, *input_dim); the convolution has ``conv_param["filter_num"]``
    filters of ``filter_size``² with its pad and stride, the pooling is 2×2 with stride 2, the
    hidden Affine layer has ``hidden_size`` units. ``params``: W1 (FN, C, FS, FS), b1 (FN,), W2
    (FN·PH·PW, hidden_size), b2, W3 (hidden_size, output_size), b3. ``weight_init_std``: a std
    (the book's 0.01), ``"he"`` or ``"xavier"``. ``seed``: int, Generator or None.
    """

    model_name: ClassVar[str] = "convnet"
    config_keys: ClassVar[tuple[str, ...]] = (
        "input_dim",
        "conv_param",
        "hidden_size",
        "output_size",
        "weight_init_std",
        "dtype",
    )

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (1, 28, 28),
        conv_param: Mapping[str, int] | None = None,
        hidden_size: int = 100,
        output_size: int = 10,
        weight_init_std: float | str = 0.01,
        *,
        dtype: Any = np.float64,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        where = "SimpleConvNet"
        self.input_dim = _check_input_dim(input_dim, where)
        if conv_param is None:
            conv_param = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}
        self.conv_param = _check_conv_param(conv_param, "conv_param", where)
        self.hidden_size = check_int(hidden_size, "hidden_size", where)
        self.output_size = check_int(output_size, "output_size", where)
        self.weight_init_std = weight_init_std
        self.dtype = check_float_dtype(dtype, where)
        self.rng = as_generator(seed)
        fn, fs = self.conv_param["filter_num"], self.conv_param["filter_size"]
        c = self.input_dim[0]

        # A stand-in with the filters' shape, only to work out the output shape: a broadcast view allocates nothing
        # (the real filters come from init_array, which refuses sizes that cannot fit).
        zero = np.zeros((), self.dtype)
        stand_in = np.broadcast_to(zero, (fn, c, fs, fs)), np.broadcast_to(zero, (fn,))
        conv = Convolution(*stand_in, **self._stride_pad())
        conv_shape = conv.output_shape((1, *self.input_dim))
        pool = Pooling(2, 2, stride=2)
        pool_shape = pool.output_shape(conv_shape)
        flat = int(np.prod(pool_shape[1:]))

        self.params = ParameterDict()
        self.params["W1"] = init_array(self.rng, (fn, c, fs, fs), c * fs * fs, weight_init_std, self.dtype)
        self.params["b1"] = np.zeros(fn, dtype=self.dtype)
        self.params["W2"] = init_weight(self.rng, flat, self.hidden_size, weight_init_std, self.dtype)
        self.params["b2"] = np.zeros(self.hidden_size, dtype=self.dtype)
        self.params["W3"] = init_weight(self.rng, self.hidden_size, self.output_size, weight_init_std, self.dtype)
        self.params["b3"] = np.zeros(self.output_size, dtype=self.dtype)

        self.layers: OrderedDict[str, Any] = OrderedDict()
        self.layers["Conv1"] = Convolution(self.params["W1"], self.params["b1"], **self._stride_pad())
        self.layers["Relu1"] = Relu()
        self.layers["Pool1"] = pool
        self.layers["Affine1"] = Affine(self.params["W2"], self.params["b2"])
        self.layers["Relu2"] = Relu()
        self.layers["Affine2"] = Affine(self.params["W3"], self.params["b3"])
        self.last_layer = SoftmaxWithLoss()
        self._link_grads()
        self._set_eval_rows()

    @classmethod
    def _tensor_shapes(cls, args: Mapping[str, Any]) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
        where = cls.__name__
        input_dim = _check_input_dim(args["input_dim"], where)
        conv_param = args["conv_param"]
        p = _check_conv_param(
            {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1} if conv_param is None else conv_param,
            "conv_param",
            where,
        )
        h = check_int(args["hidden_size"], "hidden_size", where)
        c = check_int(args["output_size"], "output_size", where)
        w1 = (p["filter_num"], input_dim[0], p["filter_size"], p["filter_size"])
        shape = _shape_after_conv(w1, p, (1, *input_dim))
        flat = int(np.prod(Pooling(2, 2, stride=2).output_shape(shape)[1:]))
        params = {"W1": w1, "b1": (w1[0],), "W2": (flat, h), "b2": (h,), "W3": (h, c), "b3": (c,)}
        return params, {}

    def _stride_pad(self) -> dict[str, int]:
        return {"stride": self.conv_param["stride"], "pad": self.conv_param["pad"]}


class DeepConvNet(_ConvNetwork):
    """The book's chapter-8 network (99%+ on MNIST): (conv-relu-conv-relu-pool) × 3, then
    Affine → Relu → Dropout → Affine → Dropout, then SoftmaxWithLoss.

    Shapes: x (N, *input_dim). ``conv_param_1`` … ``conv_param_6`` as in the book
    (:data:`DEEP_CONV_PARAMS`: 16, 16, 32, 32, 64, 64 filters of 3×3); every pooling is 2×2 with
    stride 2; the hidden Affine layer has ``hidden_size`` units; both Dropout layers drop half
    (``dropout``; inverted dropout, see :class:`~chainrule.layers.Dropout`). Weights use He
    initialisation (s = √(2/fan_in)) as the book's. ``params``: W1…W6, b1…b6 (filters), W7, b7,
    W8, b8. ``seed`` makes the one generator, ``self.rng``, that draws the weights and masks.
    """

    model_name: ClassVar[str] = "deep-convnet"
    config_keys: ClassVar[tuple[str, ...]] = (
        "input_dim",
        "conv_param_1",
        "conv_param_2",
        "conv_param_3",
        "conv_param_4",
        "conv_param_5",
        "conv_param_6",
        "hidden_size",
        "output_size",
        "dropout",
        "dtype",
    )

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (1, 28, 28),
        conv_param_1: Mapping[str, int] | None = None,
        conv_param_2: Mapping[str, int] | None = None,
        conv_param_3: Mapping[str, int] | None = None,
        conv_param_4: Mapping[str, int] | None = None,
        conv_param_5: Mapping[str, int] | None = None,
        conv_param_6: Mapping[str, int] | None = None,
        hidden_size: int = 50,
        output_size: int = 10,
        *,
        dropout: float = 0.5,
        dtype: Any = np.float64,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        where = "DeepConvNet"
        self.input_dim = _check_input_dim(input_dim, where)
        given = (conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5, conv_param_6)
        convs = [
            _check_conv_param(DEEP_CONV_PARAMS[i] if p is None else p, f"conv_param_{i + 1}", where)
            for i, p in enumerate(given)
        ]
        for i, p in enumerate(convs, start=1):
            setattr(self, f"conv_param_{i}", p)
        self.hidden_size = check_int(hidden_size, "hidden_size", where)
        self.output_size = check_int(output_size, "output_size", where)
        self.dropout = Dropout(dropout).dropout_ratio  # the layer's own check of the ratio
        self.dtype = check_float_dtype(dtype, where)
        self.rng = as_generator(seed)

        self.params = ParameterDict()
        self.layers: OrderedDict[str, Any] = OrderedDict()
        shape: tuple[int, ...] = (1, *self.input_dim)
        channels = self.input_dim[0]
        for i, p in enumerate(convs, start=1):
            fn, fs = p["filter_num"], p["filter_size"]
            self.params[f"W{i}"] = init_array(self.rng, (fn, channels, fs, fs), channels * fs * fs, "he", self.dtype)
            self.params[f"b{i}"] = np.zeros(fn, dtype=self.dtype)
            conv = Convolution(self.params[f"W{i}"], self.params[f"b{i}"], stride=p["stride"], pad=p["pad"])
            self.layers[f"Conv{i}"] = conv
            self.layers[f"Relu{i}"] = Relu()
            shape = conv.output_shape(shape)
            channels = fn
            if i % 2 == 0:
                pool = Pooling(2, 2, stride=2)
                self.layers[f"Pool{i // 2}"] = pool
                shape = pool.output_shape(shape)
        flat = int(np.prod(shape[1:]))
        self.params["W7"] = init_weight(self.rng, flat, self.hidden_size, "he", self.dtype)
        self.params["b7"] = np.zeros(self.hidden_size, dtype=self.dtype)
        self.params["W8"] = init_weight(self.rng, self.hidden_size, self.output_size, "he", self.dtype)
        self.params["b8"] = np.zeros(self.output_size, dtype=self.dtype)
        self.layers["Affine1"] = Affine(self.params["W7"], self.params["b7"])
        self.layers["Relu7"] = Relu()
        self.layers["Dropout1"] = Dropout(self.dropout, seed=self.rng)
        self.layers["Affine2"] = Affine(self.params["W8"], self.params["b8"])
        self.layers["Dropout2"] = Dropout(self.dropout, seed=self.rng)
        self.last_layer = SoftmaxWithLoss()
        self._link_grads()
        self._set_eval_rows()

    @classmethod
    def _tensor_shapes(cls, args: Mapping[str, Any]) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
        where = cls.__name__
        input_dim = _check_input_dim(args["input_dim"], where)
        params: dict[str, tuple[int, ...]] = {}
        shape: tuple[int, ...] = (1, *input_dim)
        for i in range(1, 7):
            given = args[f"conv_param_{i}"]
            p = _check_conv_param(DEEP_CONV_PARAMS[i - 1] if given is None else given, f"conv_param_{i}", where)
            params[f"W{i}"] = (p["filter_num"], shape[1], p["filter_size"], p["filter_size"])
            params[f"b{i}"] = (p["filter_num"],)
            shape = _shape_after_conv(params[f"W{i}"], p, shape)
            if i % 2 == 0:
                shape = Pooling(2, 2, stride=2).output_shape(shape)
        h = check_int(args["hidden_size"], "hidden_size", where)
        c = check_int(args["output_size"], "output_size", where)
        params.update({"W7": (int(np.prod(shape[1:])), h), "b7": (h,), "W8": (h, c), "b8": (c,)})
        return params, {}


def _shape_after_conv(w_shape: tuple[int, ...], p: Mapping[str, int], x_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The output shape of a convolution with filters of ``w_shape``, computed by the layer itself
    on zero-stride arrays (no memory, whatever the sizes)."""
    zero = np.zeros(())
    conv = Convolution(
        np.broadcast_to(zero, w_shape), np.broadcast_to(zero, w_shape[:1]), stride=p["stride"], pad=p["pad"]
    )
    return conv.output_shape(x_shape)
