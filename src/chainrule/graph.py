"""Automatic backpropagation over a recorded computational graph.

Every operation on a :class:`Variable` records one node holding a fresh *layer*: ``x * y``
runs :class:`~chainrule.layers.MulLayer`, ``x + y`` :class:`~chainrule.layers.AddLayer`,
``relu`` :class:`~chainrule.layers.Relu`, ``affine`` :class:`~chainrule.layers.Affine`, and so
on. ``y.backward()`` then calls those layers' ``backward`` for you, in reverse topological order,
so the automatic graph and the book's hand-called layers share one implementation of every
derivative. The operations that chapter 5 has no layer for (subtraction, division, powers,
exp, log, negation, matrix product, sum, mean, reshape, transpose) are small layer-style
classes in :mod:`chainrule.layers` too, usable by hand. This module is only the engine: the
variables, the nodes that record each operation, the walk in topological order and ``no_grad``;
it derives nothing itself.

Conventions:

- ``backward()`` keeps the gradient of *every* variable the output depends on, intermediate
  ones included (the drawing shows each edge's gradient), in ``.grad`` (an ndarray of the
  variable's shape and dtype).
- Gradients accumulate like PyTorch: a second ``backward()`` adds to ``.grad``. Clear one
  variable with ``cleargrad()`` or a whole graph with ``zero_grad()``.
- Accumulation always makes a new array (``a + b``), never writes into an array a layer
  returned, and every ``.grad`` is its own array (no two variables share one).
- Numbers and arrays mixed with variables become *constants*: drawn in the graph but given no
  ``.grad``. A Python number takes the dtype of the variable it meets, so float32 graphs stay
  float32.
- ``with no_grad():`` computes values without recording nodes (restored in ``finally``).
- The walk is iterative and deterministic: a 100,000-node chain needs no recursion.
"""

from __future__ import annotations

import contextvars
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from chainrule._checks import as_float_array, is_real
from chainrule.layers import (
    AddLayer,
    Affine,
    Convolution,
    DivLayer,
    Exp,
    LocalRule,
    Log,
    MatMul,
    Mean,
    MulLayer,
    NegLayer,
    Pooling,
    PowLayer,
    Relu,
    Reshape,
    Sigmoid,
    SoftmaxWithLoss,
    SubLayer,
    Sum,
    Tanh,
    Transpose,
)

__all__ = [
    "Node",
    "Variable",
    "add",
    "affine",
    "as_variable",
    "avg_pool2d",
    "conv2d",
    "div",
    "exp",
    "flatten",
    "is_grad_enabled",
    "log",
    "matmul",
    "max_pool2d",
    "mean",
    "mul",
    "neg",
    "no_grad",
    "power",
    "reciprocal",
    "reduce_sum",
    "relu",
    "reshape",
    "sigmoid",
    "softmax_cross_entropy",
    "sub",
    "tanh",
    "topological_order",
    "transpose",
]

# The one mode flag. A ContextVar (not a plain global) keeps threads and asyncio tasks apart.
_recording: contextvars.ContextVar[bool] = contextvars.ContextVar("chainrule_grad_enabled", default=True)


def is_grad_enabled() -> bool:
    """True when operations on variables record graph nodes (the default)."""
    return _recording.get()


@contextmanager
def no_grad() -> Iterator[None]:
    """Context manager: compute values without recording the graph (inference, finite differences).

    Results made inside are leaf variables with no creator; the previous mode is restored on exit,
    even when the block raises.
    """
    token = _recording.set(False)
    try:
        yield
    finally:
        _recording.reset(token)


# ---------------------------------------------------------------------------------------------
# The graph: variables and the nodes that made them.
# ---------------------------------------------------------------------------------------------


def _layer_grads(layer: Any) -> Callable[[Any], tuple[Any, ...]]:
    """The usual adapter: ``layer.backward(gy)``, as a tuple with one entry per input."""

    def grads(gy: Any) -> tuple[Any, ...]:
        out = layer.backward(gy)
        return out if isinstance(out, tuple) else (out,)

    return grads


class Node:
    """One recorded operation: the layer that ran it, its input variables and its output.

    ``op`` is a short name (``"mul"``), ``symbol`` what drawings show (``"×"``). ``backward(gy)``
    returns one gradient per input (None for an input that has none, such as labels). ``rule``
    is the layer's :class:`~chainrule.layers.LocalRule` (what the interactive page writes out),
    unless the operation uses its layer differently (``reciprocal``) and says its own.
    The output is held weakly: a node does not keep the variable it made alive.
    """

    __slots__ = ("op", "symbol", "layer", "inputs", "rule", "_output", "_grads")

    def __init__(
        self,
        op: str,
        symbol: str,
        layer: Any,
        inputs: tuple[Variable, ...],
        output: Variable,
        grads: Callable[[Any], tuple[Any, ...]],
        rule: LocalRule | None = None,
    ) -> None:
        self.op = op
        self.symbol = symbol
        self.layer = layer
        self.inputs = inputs
        self.rule: LocalRule | None = rule if rule is not None else getattr(layer, "rule", None)
        self._output = weakref.ref(output)
        self._grads = grads

    @property
    def output(self) -> Variable | None:
        return self._output()

    def backward(self, gy: Any) -> tuple[Any, ...]:
        grads = self._grads(gy)
        if len(grads) != len(self.inputs):
            raise RuntimeError(f"{self.op}: backward returned {len(grads)} gradients for {len(self.inputs)} inputs")
        return grads

    def __repr__(self) -> str:
        return f"Node({self.op!r}, inputs={len(self.inputs)})"


class Variable:
    """A value in a computational graph: ``data`` (an ndarray), ``grad`` and an optional ``name``.

    ``Variable(data, name=None)`` wraps a number or array (integers and booleans become float64;
    a float array is used as is, not copied). Operations on variables (``+ - * / ** @``, unary
    minus, the methods below and the functions of ``chainrule.graph``) return new variables and
    record how they were made, unless inside ``no_grad()``.

    ``grad`` is None until a backward pass reaches the variable, then an array of its shape.
    """

    __slots__ = ("data", "grad", "name", "creator", "_constant", "__weakref__")
    __array_ufunc__ = None  # ndarray ⊕ Variable defers to Variable's reflected operators

    def __init__(self, data: Any, name: str | None = None) -> None:
        if isinstance(data, Variable):
            raise TypeError("Variable: data is already a Variable (use it directly, or pass its .data)")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Variable: name must be a string or None, got {type(name).__name__}")
        self.data: np.ndarray = as_float_array(data, "Variable", "data")
        self.grad: np.ndarray | None = None
        self.name = name
        self.creator: Node | None = None
        self._constant = False

    @classmethod
    def _wrap(cls, data: Any, constant: bool = False) -> Variable:
        """A variable around an array chainrule computed (no conversion)."""
        v = cls.__new__(cls)
        v.data = np.asarray(data)
        v.grad = None
        v.name = None
        v.creator = None
        v._constant = constant
        return v

    # -- array-like properties --
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def is_constant(self) -> bool:
        """True for numbers and arrays that operators wrapped; they receive no ``.grad``."""
        return self._constant

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d Variable")
        return len(self.data)

    def __bool__(self) -> bool:
        return bool(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Variable(")
        extra = f", name={self.name!r}" if self.name is not None else ""
        return f"Variable({body}{extra})"

    # -- backward --
    def backward(self, grad: Any = None) -> None:
        """Compute ``.grad`` of every variable this one depends on (and of this one).

        ``grad`` is the upstream gradient ∂L/∂self, of this variable's shape; it may be left out
        only for a scalar (size-1) output, where it is 1. Gradients add to what ``.grad`` holds
        from earlier passes (clear them with ``zero_grad()``). Nodes run in reverse topological
        order, iteratively, so graphs of any depth work.
        """
        if grad is None:
            if self.data.size != 1:
                raise ValueError(
                    f"backward() without an upstream gradient needs a scalar output, but this Variable has shape "
                    f"{self.shape}: reduce it first (e.g. y.sum().backward()) or pass grad of shape {self.shape}"
                )
            seed = np.ones_like(self.data)
        else:
            seed = grad.data if isinstance(grad, Variable) else as_float_array(grad, "backward", "grad")
            if seed.shape != self.shape:
                raise ValueError(f"backward: grad must have the output's shape {self.shape}, got {seed.shape}")
            seed = seed.astype(self.dtype, copy=True)  # our own copy: .grad never aliases the caller's array

        pending: dict[int, tuple[Variable, Any]] = {id(self): (self, seed)}
        stored: set[int] = set()  # ids of arrays already stored in some .grad during this pass

        def store(var: Variable, g: Any) -> None:
            g = np.asarray(g)
            if var.grad is None:
                if id(g) in stored:
                    g = g.copy()  # AddLayer passes dout on by reference; give each variable its own
                var.grad = g
                stored.add(id(g))
            else:
                var.grad = var.grad + g  # new array: never in place (PyTorch-style accumulation)

        for node in reversed(topological_order(self)):
            out = node.output
            entry = pending.pop(id(out), None) if out is not None else None
            if entry is None:
                continue
            gy = entry[1]
            store(out, gy)
            for x, gx in zip(node.inputs, node.backward(gy), strict=True):
                if gx is None or x._constant:
                    continue
                if np.shape(gx) != x.shape:
                    raise RuntimeError(
                        f"{node.op}: backward returned a gradient of shape {np.shape(gx)} "
                        f"for an input of shape {x.shape}"
                    )
                key = id(x)
                if key in pending:
                    pending[key] = (x, pending[key][1] + gx)  # fan-out: gradients from each use add up
                else:
                    pending[key] = (x, gx)
        for var, g in pending.values():  # the leaves, in the order the walk reached them
            store(var, g)

    def cleargrad(self) -> None:
        """Forget this variable's gradient (``.grad = None``)."""
        self.grad = None

    def zero_grad(self) -> None:
        """Forget the gradients of this variable and every variable it depends on."""
        self.grad = None
        for node in topological_order(self):
            for x in node.inputs:
                x.grad = None

    # -- operators --
    def __add__(self, other: Any) -> Variable:
        return add(self, other)

    def __radd__(self, other: Any) -> Variable:
        return add(other, self)

    def __sub__(self, other: Any) -> Variable:
        return sub(self, other)

    def __rsub__(self, other: Any) -> Variable:
        return sub(other, self)

    def __mul__(self, other: Any) -> Variable:
        return mul(self, other)

    def __rmul__(self, other: Any) -> Variable:
        return mul(other, self)

    def __truediv__(self, other: Any) -> Variable:
        return div(self, other)

    def __rtruediv__(self, other: Any) -> Variable:
        return div(other, self)

    def __pow__(self, other: Any) -> Variable:
        return power(self, other)

    def __rpow__(self, other: Any) -> Variable:
        return power(other, self)

    def __matmul__(self, other: Any) -> Variable:
        return matmul(self, other)

    def __rmatmul__(self, other: Any) -> Variable:
        return matmul(other, self)

    def __neg__(self) -> Variable:
        return neg(self)

    def __pos__(self) -> Variable:
        return self

    # -- methods (as micrograd, DeZero and PyTorch have them) --
    def exp(self) -> Variable:
        return exp(self)

    def log(self) -> Variable:
        return log(self)

    def relu(self) -> Variable:
        return relu(self)

    def sigmoid(self) -> Variable:
        return sigmoid(self)

    def tanh(self) -> Variable:
        return tanh(self)

    def item(self) -> float:
        """The value of a one-element variable as a Python number (``ValueError`` otherwise)."""
        if self.data.size != 1:
            raise ValueError(f"item(): the Variable has shape {self.shape}; only one-element variables have an item")
        return self.data.item()

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Variable:
        return reduce_sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Variable:
        return mean(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: Any) -> Variable:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return reshape(self, shape)

    def transpose(self, *axes: int) -> Variable:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return transpose(self, axes or None)

    @property
    def T(self) -> Variable:
        return transpose(self)


def topological_order(output: Variable) -> list[Node]:
    """The nodes ``output`` depends on, each after every node that made one of its inputs.

    Depth-first with an explicit stack, inputs visited in argument order: deterministic, and no
    recursion however deep the graph.
    """
    if output.creator is None:
        return []
    order: list[Node] = []
    seen = {id(output.creator)}
    stack: list[tuple[Node, int]] = [(output.creator, 0)]
    while stack:
        node, i = stack[-1]
        if i < len(node.inputs):
            stack[-1] = (node, i + 1)
            child = node.inputs[i].creator
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                stack.append((child, 0))
        else:
            stack.pop()
            order.append(node)
    return order


def as_variable(value: Any, like: Variable | None = None) -> Variable:
    """``value`` if it is a Variable, else a constant wrapping it (no ``.grad``).

    A Python number takes ``like``'s dtype, so ``x32 * 2`` stays float32.
    """
    if isinstance(value, Variable):
        return value
    if like is not None and isinstance(value, (int, float)) and is_real(value):
        return Variable._wrap(np.asarray(value, dtype=like.dtype), constant=True)
    return Variable._wrap(as_float_array(value, "graph", "operand"), constant=True)


def _record(
    op: str, symbol: str, layer: Any, inputs: tuple[Variable, ...], data: Any, grads: Any = None, rule: Any = None
) -> Variable:
    out = Variable._wrap(data)
    if _recording.get():
        out.creator = Node(op, symbol, layer, inputs, out, grads or _layer_grads(layer), rule)
    return out


def _binary(op: str, symbol: str, layer: Any, a: Any, b: Any) -> Variable:
    if not isinstance(a, Variable) and not isinstance(b, Variable):
        raise TypeError(f"{op}: at least one operand must be a Variable")
    like = a if isinstance(a, Variable) else b
    a, b = as_variable(a, like), as_variable(b, like)
    return _record(op, symbol, layer, (a, b), layer.forward(a.data, b.data))


def _unary(op: str, symbol: str, layer: Any, x: Any) -> Variable:
    x = as_variable(x)
    return _record(op, symbol, layer, (x,), layer.forward(x.data))


def add(a: Any, b: Any) -> Variable:
    """a + b (broadcasting), via ``AddLayer``."""
    return _binary("add", "+", AddLayer(), a, b)


def sub(a: Any, b: Any) -> Variable:
    """a - b (broadcasting), via ``SubLayer``."""
    return _binary("sub", "−", SubLayer(), a, b)


def mul(a: Any, b: Any) -> Variable:
    """a * b (broadcasting), via ``MulLayer``."""
    return _binary("mul", "×", MulLayer(), a, b)


def div(a: Any, b: Any) -> Variable:
    """a / b (broadcasting), via ``DivLayer``."""
    return _binary("div", "÷", DivLayer(), a, b)


def power(a: Any, b: Any) -> Variable:
    """a ** b (broadcasting), via ``PowLayer``. A constant exponent gets no gradient."""
    return _binary("pow", "^", PowLayer(), a, b)


def matmul(a: Any, b: Any) -> Variable:
    """a @ b for 1-D or 2-D operands, via ``MatMul``."""
    return _binary("matmul", "@", MatMul(), a, b)


def neg(x: Any) -> Variable:
    """-x, via ``NegLayer``."""
    return _unary("neg", "−", NegLayer(), x)


def reciprocal(x: Any) -> Variable:
    """1 / x as one node (the book's "/" node in the sigmoid graph), via ``DivLayer``'s derivative."""
    x = as_variable(x)
    layer = DivLayer()
    data = layer.forward(np.ones((), dtype=x.dtype), x.data)
    return _record("reciprocal", "/", layer, (x,), data, lambda gy: (layer.backward(gy)[1],), DivLayer.reciprocal_rule)


def exp(x: Any) -> Variable:
    """e ** x, via ``Exp``."""
    return _unary("exp", "exp", Exp(), x)


def log(x: Any) -> Variable:
    """Natural logarithm, via ``Log``."""
    return _unary("log", "log", Log(), x)


def reduce_sum(x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Variable:
    """Sum over ``axis`` (None: everything), via ``Sum``. Also ``x.sum()``."""
    return _unary("sum", "Σ", Sum(axis, keepdims), x)


def mean(x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Variable:
    """Mean over ``axis`` (None: everything), via ``Mean``. Also ``x.mean()``."""
    return _unary("mean", "mean", Mean(axis, keepdims), x)


def reshape(x: Any, shape: tuple[int, ...]) -> Variable:
    """x reshaped to ``shape``, via ``Reshape``. Also ``x.reshape(...)``."""
    return _unary("reshape", "reshape", Reshape(shape), x)


def transpose(x: Any, axes: tuple[int, ...] | None = None) -> Variable:
    """Axes permuted (None: reversed), via ``Transpose``. Also ``x.T`` and ``x.transpose(...)``."""
    return _unary("transpose", "T", Transpose(axes), x)


def relu(x: Any) -> Variable:
    """max(x, 0), via ``Relu``."""
    return _unary("relu", "relu", Relu(), x)


def sigmoid(x: Any) -> Variable:
    """1 / (1 + exp(-x)) as one node, via ``Sigmoid``."""
    return _unary("sigmoid", "σ", Sigmoid(), x)


def tanh(x: Any) -> Variable:
    """tanh(x), via ``Tanh``."""
    return _unary("tanh", "tanh", Tanh(), x)


def affine(x: Any, W: Any, b: Any) -> Variable:
    """x·W + b as one node, via a fresh ``Affine(W, b)``: x (N, D), W (D, M), b (M,) → (N, M).

    The gradients of W and b are the layer's ``dW`` and ``db``.
    """
    x, W, b = as_variable(x), as_variable(W), as_variable(b)
    layer = Affine(W.data, b.data)
    data = layer.forward(x.data)

    def grads(gy: Any) -> tuple[Any, ...]:
        dx = layer.backward(gy)
        return dx, layer.dW, layer.db

    return _record("affine", "Affine", layer, (x, W, b), data, grads)


def conv2d(x: Any, W: Any, b: Any, stride: int = 1, pad: int = 0) -> Variable:
    """A convolution as one node, via a fresh ``Convolution(W, b, stride, pad)``.

    x (N, C, H, W), W (FN, C, FH, FW), b (FN,) → (N, FN, OH, OW); the gradients of W and b are
    the layer's ``dW`` and ``db``.
    """
    x, W, b = as_variable(x), as_variable(W), as_variable(b)
    layer = Convolution(W.data, b.data, stride, pad)
    data = layer.forward(x.data)

    def grads(gy: Any) -> tuple[Any, ...]:
        dx = layer.backward(gy)
        return dx, layer.dW, layer.db

    return _record("conv2d", "Conv", layer, (x, W, b), data, grads)


def _pool2d(mode: str, x: Any, size: int | tuple[int, int], stride: int | None, pad: int) -> Variable:
    ph, pw = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    layer = Pooling(ph, pw, stride=(ph if stride is None else stride), pad=pad, mode=mode)
    return _unary(f"{mode}_pool2d", f"{mode} pool", layer, x)


def max_pool2d(x: Any, size: int | tuple[int, int], stride: int | None = None, pad: int = 0) -> Variable:
    """The maximum of each ``size`` window (an int or (pool_h, pool_w)), via ``Pooling(mode="max")``.

    ``stride`` defaults to the window size (non-overlapping windows, as PyTorch's ``max_pool2d``).
    """
    return _pool2d("max", x, size, stride, pad)


def avg_pool2d(x: Any, size: int | tuple[int, int], stride: int | None = None, pad: int = 0) -> Variable:
    """The mean of each ``size`` window, via ``Pooling(mode="avg")``; ``stride`` defaults to the size."""
    return _pool2d("avg", x, size, stride, pad)


def flatten(x: Any) -> Variable:
    """Each sample as one row: (N, d1, d2, ...) → (N, d1·d2·...), via ``Reshape``."""
    x = as_variable(x)
    return _unary("flatten", "flatten", Reshape((x.shape[0], -1)), x)


def softmax_cross_entropy(x: Any, t: Any) -> Variable:
    """Mean cross-entropy of softmax(x) against labels ``t``, via ``SoftmaxWithLoss``.

    x (N, C) scores; t class indices (N,) or one-hot (N, C) (an array, or a Variable holding
    one-hot rows). Returns a scalar variable; the labels get no gradient.
    """
    x = as_variable(x)
    labels = t.data if isinstance(t, Variable) else np.asarray(t)
    t_var = t if isinstance(t, Variable) else Variable._wrap(labels, constant=True)
    layer = SoftmaxWithLoss()
    loss = layer.forward(x.data, labels)
    data = np.asarray(loss, dtype=x.dtype if x.dtype.kind == "f" else np.float64)
    return _record(
        "softmax_cross_entropy", "Softmax-with-Loss", layer, (x, t_var), data, lambda gy: (layer.backward(gy), None)
    )
