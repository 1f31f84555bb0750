"""What every network shares: parameters owned once, the forward and backward passes, checks.

A network owns its parameter arrays once: ``net.params`` and the layers hold the same arrays,
so an in-place update of ``params`` (what the optimizers do) reaches the layers. Assigning a
new array to ``params[name]`` copies it into the existing one (shape checked), so the book's
``params[key] = params[key] - lr * grad[key]`` works too.

Non-trainable state (batch normalization's running statistics) is exposed as ``net.buffers``,
name → the live array, which a checkpoint saves and restores in place.
"""

from __future__ import annotations

import copy as _copy
import html
import inspect
import math
import os
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

import numpy as np

from chainrule._checks import check_allocation, check_float_dtype, check_int, check_labels, check_real
from chainrule.gradcheck import numerical_gradient
from chainrule.layers import Affine, BatchNormalization, Dropout, SoftmaxWithLoss
from chainrule.layers.base import Workspace
from chainrule.tensorfile import check_section, read_tensor_file, section, write_tensor_file

__all__ = ["MAX_INIT_STD", "Network", "ParameterDict", "init_array", "init_scale", "init_weight"]

#: The largest standard deviation of initial weights: the book's largest is 1 (chapter 6's
#: activation histograms); past 1000 every unit saturates at the first step, and at 1e308 the
#: weights themselves overflow to infinity.
MAX_INIT_STD = 1000.0


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
    """A (fan_in, fan_out) weight matrix drawn from N(0, s²), s from :func:`init_scale`."""
    return init_array(rng, (fan_in, fan_out), fan_in, std, dtype)


def init_array(
    rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, std: float | str, dtype: np.dtype
) -> np.ndarray:
    """An array of ``shape`` drawn from N(0, s²) (weights or filters), s from :func:`init_scale`.

    Refused with :class:`~chainrule._checks.AllocationTooLarge` before anything is allocated when
    it cannot fit in memory (the draw is float64, then scaled and cast: 16 bytes an entry, plus the result).
    """
    scale = init_scale(std, fan_in)
    entries = math.prod(int(n) for n in shape)
    dtype = np.dtype(dtype)
    what = f"initialising a {'x'.join(map(str, shape))} {dtype} weight array (its float64 draw, then the array)"
    check_allocation(entries * (16 + dtype.itemsize), what)
    return (scale * rng.standard_normal(shape)).astype(dtype)


def init_scale(std: float | str, fan_in: int) -> float:
    """The standard deviation s of initial weights with ``fan_in`` inputs per unit.

    ``std`` is a number (the book's ``weight_init_std``), ``"he"`` (s = √(2/fan_in), for ReLU)
    or ``"xavier"`` (s = √(1/fan_in), for sigmoid and tanh); the book's aliases ``"relu"`` and
    ``"sigmoid"`` name the same two. For filters, fan_in is C·FH·FW.
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
        scale = check_real(
            std,
            "std",
            "weight init",
            low=0.0,
            high=MAX_INIT_STD,
            low_open=True,
            expected=f"a positive number at most {MAX_INIT_STD:g}",
        )
    return scale


#: Arrays of each layer's output size that a training step keeps (output, mask, gradient, scratch).
STEP_ARRAYS = 4


def step_bytes(entries_per_sample: int, batch_size: int, itemsize: int, param_bytes: int) -> int:
    """The memory a training step keeps, estimated: the workspaces, :data:`STEP_ARRAYS` arrays of
    every layer's output (``entries_per_sample`` summed over the layers, per sample), plus a
    gradient and an optimizer scratch array per parameter (``param_bytes`` of parameters)."""
    return STEP_ARRAYS * batch_size * entries_per_sample * itemsize + 2 * param_bytes


N = TypeVar("N", bound="Network")
_MODAL_LAYERS = (Dropout, BatchNormalization)  # layers whose forward takes train_flg


class Network:
    """What the book's networks share: layers in order, then SoftmaxWithLoss (the base of every model).

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

    #: Samples predicted at once in evaluation (None: all); set by networks with per-sample workspaces.
    eval_rows: int | None = None

    output_size: int
    dtype: np.dtype
    params: ParameterDict
    layers: OrderedDict[str, Any]
    last_layer: SoftmaxWithLoss

    @classmethod
    def blueprint(cls, config: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The ``(params, buffers)`` a model of ``config`` would have, without building it.

        Each entry is a read-only, zero-stride array with the parameter's shape and dtype (it
        takes no memory, whatever the shape), so a checkpoint's configuration can be checked
        against the tensors stored with it before anything is allocated: a config saying
        ``hidden_size=10**9`` costs nothing here. ``config`` is the model's ``config`` less
        ``"model"`` (unknown or missing arguments raise ``TypeError``, bad values ``ValueError``).
        """
        bound = inspect.signature(cls).bind(**config)
        bound.apply_defaults()
        args = dict(bound.arguments)
        dtype = check_float_dtype(args.get("dtype", np.float64), cls.__name__)
        params, buffers = cls._tensor_shapes(args)
        zero = np.zeros((), dtype=dtype)
        return (
            {k: np.broadcast_to(zero, shape) for k, shape in params.items()},
            {k: np.broadcast_to(zero, shape) for k, shape in buffers.items()},
        )

    @classmethod
    def _tensor_shapes(cls, args: Mapping[str, Any]) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
        """(parameter name → shape, buffer name → shape) for the constructor's arguments ``args``."""
        raise NotImplementedError(f"{cls.__name__} does not describe its tensors")  # pragma: no cover

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
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one sample: ``(input_size,)``, or ``(C, H, W)`` for a convolutional network."""
        return (self.input_size,)

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
        """An independent copy (parameters and buffers), optionally converted to another float dtype.

        A network that owns a generator (``self.rng``, drawing its dropout masks) is copied with
        the generator's state, so the copy draws the same masks.
        """
        kwargs = {k: v for k, v in self.config.items() if k not in ("model", "dtype")}
        new = type(self)(**kwargs, dtype=self.dtype if dtype is None else dtype, seed=0)
        new.params.update(self.params)  # ParameterDict copies into the new arrays
        new.buffers.update(self.buffers)
        if isinstance(getattr(self, "rng", None), np.random.Generator):
            new.rng = _copy.deepcopy(self.rng)
            for layer in new.layers.values():
                if isinstance(layer, Dropout):
                    layer.rng = new.rng
        return new

    # ----------------------------------------------------------------------------------------
    # What a network looks like: repr, summary table, Jupyter's HTML table
    # ----------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items() if k != "model")
        return f"{type(self).__name__}({args})"

    def _summary_rows(self) -> list[tuple[str, str, str, int, str]]:
        """(layer name, type, output shape, parameter count, arrays) per layer, then the loss.

        The shapes come from a forward pass of one zero sample in evaluation mode through a
        copy, so this network's caches and statistics are left as they are.
        """
        probe = self.copy()
        owner = {id(arr): key for key, arr in probe.params.items()}
        x = np.zeros((1, *self.input_shape), dtype=self.dtype)
        rows = []
        for name, layer in probe.layers.items():
            x = layer.forward(x, False) if isinstance(layer, _MODAL_LAYERS) else layer.forward(x)
            arrays = [(owner.get(id(a), n), a) for n, a in _params_of(layer) if id(a) in owner]
            count = sum(int(a.size) for _, a in arrays)
            shapes = ", ".join(f"{key} {'x'.join(map(str, a.shape))}" for key, a in arrays)
            rows.append((name, type(layer).__name__, _batch_shape(x.shape), count, shapes))
        rows.append(("last_layer", type(probe.last_layer).__name__, _batch_shape(x.shape), 0, ""))
        return rows

    def _summary_totals(self) -> str:
        trainable = sum(int(p.size) for p in self.params.values())
        size = sum(int(p.nbytes) for p in self.params.values())
        fixed = sum(int(b.size) for b in self._buffers.values())
        return f"trainable parameters: {trainable:,} ({_kib(size)}); non-trainable (running statistics): {fixed:,}"

    def _summary_title(self) -> str:
        name = f' "{self.model_name}"' if self.model_name else ""
        return f"{type(self).__name__}{name}: input {_batch_shape((1, *self.input_shape))}, {self.dtype.name}"

    def __str__(self) -> str:
        """The summary table: each layer's name, type, output shape and parameters (``print(net)``)."""
        header = ("layer", "type", "output shape", "params", "arrays")
        rows = [(n, t, shape, f"{count:,}", arrays) for n, t, shape, count, arrays in self._summary_rows()]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = []
        for row in [header, *rows]:
            cells = [
                cell.rjust(w) if i == 3 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append("  ".join(cells).rstrip())
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join([self._summary_title(), *lines, self._summary_totals()])

    def summary(self, print_fn: Any = print) -> None:
        """Print the summary table (Keras' ``model.summary()``); ``print_fn`` receives the text instead."""
        print_fn(str(self))

    def _repr_html_(self) -> str:
        """The summary table for Jupyter."""
        header = ("layer", "type", "output shape", "params", "arrays")
        head = "".join(f"<th>{h}</th>" for h in header)
        body = "".join(
            f"<tr><td>{html.escape(n)}</td><td>{html.escape(t)}</td><td>{html.escape(shape)}</td>"
            f"<td style='text-align:right'>{count:,}</td><td>{html.escape(arrays)}</td></tr>"
            for n, t, shape, count, arrays in self._summary_rows()
        )
        caption = html.escape(self._summary_title())
        totals = html.escape(self._summary_totals())
        table = f"<caption>{caption}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
        return f"<table>{table}</table><p>{totals}</p>"

    def save_params(self, file_name: str | os.PathLike[str] = "params.pkl") -> Path:
        """The book's ``save_params``: write the parameters and buffers to ``file_name``.

        The file is safetensors (a chainrule checkpoint holding the model), whatever its name:
        the book's programs call it ``params.pkl``, but chainrule never pickles.
        ``chainrule.load_model`` and ``chainrule eval`` read it too.
        """
        tensors = {f"param/{k}": v for k, v in self.params.items()}
        tensors.update({f"buffer/{k}": v for k, v in self.buffers.items()})
        meta = {"model": dict(self.config), "optimizer": None, "rng_state": None, "trainer": None, "info": None}
        return write_tensor_file(file_name, tensors, meta)

    def load_params(self, file_name: str | os.PathLike[str] = "params.pkl") -> None:
        """The book's ``load_params``: copy the parameters and buffers saved by ``save_params``
        (or any chainrule checkpoint of the same architecture) into this network, in place.

        Every tensor is checked for its name, shape and dtype first; a pickle file is refused.
        """
        path = Path(file_name)
        _, tensors = read_tensor_file(path)
        params, buffers = section(tensors, "param/"), section(tensors, "buffer/")
        check_section(path, "param/", params, self.params)
        check_section(path, "buffer/", buffers, self.buffers)
        self.params.update(params)  # ParameterDict copies into the layers' arrays
        self.buffers.update(buffers)

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

    def _batch(self, x: Any, where: str) -> Any:
        """``x`` when it holds at least one sample (a shape check; the mean loss of none is 0/0)."""
        shape = x.shape if type(x) is np.ndarray else np.shape(x)
        if not shape or shape[0] == 0:
            raise ValueError(f"{type(self).__name__}.{where}: expected at least one sample, got x.shape={shape}")
        return x

    def _as_input(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)  # uint8 images or float64 data meet a float32 net
        return x

    def predict(self, x: Any, train_flg: bool = False) -> np.ndarray:
        """Scores (N, output_size) before softmax; ``train_flg`` puts Dropout and BatchNormalization in training.

        In evaluation a network whose layers need workspace per sample (a convolution's windows)
        predicts ``eval_rows`` samples at a time, so memory stays bounded however large ``x`` is.
        """
        x = self._as_input(x)
        rows = self.eval_rows
        if not train_flg and rows is not None and x.shape[0] > rows:
            return np.concatenate([self._forward(x[i : i + rows], False) for i in range(0, x.shape[0], rows)])
        return self._forward(x, train_flg)

    def _forward(self, x: np.ndarray, train_flg: bool) -> np.ndarray:
        for layer in self.layers.values():
            if isinstance(layer, _MODAL_LAYERS):  # one check for the common case of neither
                x = layer.forward(x, train_flg and not (self._dropout_off and isinstance(layer, Dropout)))
            else:
                x = layer.forward(x)
        return x

    def loss(self, x: Any, t: Any, train_flg: bool = False) -> float:
        """Mean cross-entropy of the softmax of ``predict(x, train_flg)`` against ``t``, plus ½λ·Σ‖W‖²."""
        loss = self.last_layer.forward(self.predict(self._batch(x, "loss"), train_flg), t)
        if self.weight_decay:
            penalty = 0.0
            for key in self._decayed:
                W = self.params[key]
                penalty += float(np.vdot(W, W))
            loss += 0.5 * self.weight_decay * penalty
        return loss

    def accuracy(self, x: Any, t: Any, *, batch_size: int | None = None) -> float:
        """Fraction of samples whose highest score (in evaluation mode) is the label (indices or one-hot).

        ``batch_size`` bounds memory on large sets by predicting in chunks. NaN when any score is
        NaN (a network whose weights hold NaN has no top class; argmax would say class 0).
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
            if np.isnan(scores).any():
                return float("nan")
            correct += int(np.count_nonzero(np.argmax(scores, axis=1) == labels[start : start + step]))
        return correct / n

    def gradient(self, x: Any, t: Any, *, copy: bool = False) -> dict[str, np.ndarray]:
        """Backprop gradients of ``loss(x, t, train_flg=True)``, keyed like ``params`` (weight decay included).

        The arrays returned are the network's gradient buffers, as PyTorch's ``.grad``: each
        call overwrites them with the new gradients (so a step allocates no parameter-sized
        array), and the dict itself is new. The caller may modify them (clip, scale) without
        harming the next step, which writes every entry afresh; to keep a step's gradients
        beyond the next call, pass ``copy=True`` (fresh arrays) or copy them
        (``{k: g.copy() for k, g in grads.items()}``). After it, ``last_layer.loss`` holds the
        mini-batch's cross-entropy (without the weight-decay term).
        """
        layers = tuple(self.layers.values())
        spaces = self._workspaces(layers)
        for layer, ws in spaces:
            layer._ws = ws
        try:
            self.last_layer.forward(self.predict(self._batch(x, "gradient"), True), t)  # the penalty is not needed
            dout = self.last_layer.backward(1)
            for layer in layers[:0:-1]:
                dout = layer.backward(dout)
            layers[0].backward(dout, input_grad=False)  # no gradient is needed for the data
        finally:
            for layer, _ in spaces:
                layer._ws = None
        grads = {}
        for key, layer, name, attr in self._grad_refs:
            grads[key] = getattr(layer, attr) if attr else layer.grads[name]
        if self.weight_decay:
            ws = self._decay_space
            for key in self._decayed:
                W = self.params[key]
                total = np.multiply(W, self.weight_decay, out=ws.array(key, W.shape, W.dtype))
                total += grads[key]  # the layer's dW stays as computed
                grads[key] = total
        if copy:
            grads = {key: g.copy() for key, g in grads.items()}
        return grads

    def activation_sizes(self, *, windows: bool = False) -> list[int]:
        """Entries per sample of each layer's output, from the shapes alone (nothing is allocated).

        ``windows``: a convolution's entry counts its input windows too (C·FH·FW per output
        position, the matrix its product reads).
        """
        shape = tuple(self.input_shape)
        sizes = []
        for layer in self.layers.values():
            output_shape = getattr(layer, "output_shape", None)
            extra = 0
            if output_shape is not None:  # Convolution, Pooling
                shape = tuple(output_shape((1, *shape))[1:])
                W = getattr(layer, "W", None)
                if windows and W is not None:
                    extra = math.prod(W.shape[1:]) * math.prod(shape[1:])
            elif isinstance(layer, Affine):
                shape = (int(layer.W.shape[1]),)
            sizes.append(math.prod(shape) + extra)  # elementwise layers keep the shape
        return sizes

    def step_memory(self, batch_size: int) -> int:
        """Bytes a training step on ``batch_size`` samples keeps, estimated from the shapes
        (:func:`step_bytes`, with a convolution's windows counted). ``Trainer`` refuses a batch
        whose step cannot fit."""
        param_bytes = sum(int(p.nbytes) for p in self.params.values())
        entries = sum(self.activation_sizes(windows=True))
        return step_bytes(entries, batch_size, self.dtype.itemsize, param_bytes)

    def _workspaces(self, layers: tuple[Any, ...]) -> tuple[tuple[Any, Workspace], ...]:
        """(layer, its workspace) for ``layers`` and the loss: made on the first ``gradient``, and
        again if the layers were replaced since (a workspace belongs to one layer object)."""
        made = self.__dict__.get("_spaces")
        if made is None or made[0] != layers or made[1] is not self.last_layer:
            spaces = tuple((layer, Workspace()) for layer in (*layers, self.last_layer))
            made = self._spaces = (layers, self.last_layer, spaces, Workspace())
        return made[2]

    @property
    def _decay_space(self) -> Workspace:
        return self._spaces[3]

    def workspace_nbytes(self) -> int:
        """Bytes held in the buffers ``gradient`` reuses (activations, masks, gradients): the
        memory that buys a step without allocation (0 before the first ``gradient``)."""
        made = self.__dict__.get("_spaces")
        if made is None:
            return 0
        return sum(ws.nbytes for _, ws in made[2]) + made[3].nbytes

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


def _batch_shape(shape: tuple[int, ...]) -> str:
    """``(N, 30, 24, 24)``: a batch's shape with the batch axis as N."""
    return "(" + ", ".join(["N", *map(str, shape[1:])]) + ")"


def _kib(nbytes: int) -> str:
    return f"{nbytes / 1024:.1f} KiB" if nbytes < 1024**2 else f"{nbytes / 1024**2:.2f} MiB"


def _params_of(layer: Any) -> Iterable[tuple[str, np.ndarray]]:
    return (getattr(layer, "params", None) or {}).items()
