"""Every derivative in chainrule, each written once: the layers and nodes with ``forward`` and ``backward``.

The book's layers are called by hand (``forward``, then ``backward(dout)``); the automatic graph
of :mod:`chainrule.graph` runs the very same classes for ``Variable`` operations, so there is
one implementation of each local derivative. Where to find each one:

- ``arithmetic``: ``MulLayer``, ``AddLayer`` (chapter 5.4), ``SubLayer``, ``DivLayer``,
  ``NegLayer``, ``PowLayer``;
- ``activations``: ``Relu``, ``Sigmoid`` (5.5), ``Tanh``, ``Exp``, ``Log``;
- ``affine``: ``Affine`` (5.6.2) and ``MatMul``, sharing ``matmul_backward``;
- ``loss``: ``SoftmaxWithLoss`` (5.6.3);
- ``shape``: ``Sum``, ``Mean``, ``Reshape``, ``Transpose``;
- ``regularization``: ``Dropout``, ``BatchNormalization`` (chapter 6);
- ``conv``: ``Convolution``, ``Pooling`` (chapter 7; the matrix product's rule again, over windows);
- ``rules``: ``LocalRule``, each node's rule in the book's notation for people to read: every class
  the graph engine records states its ``rule`` once, next to its ``backward``.

Conventions (the house style):

- ``backward`` never writes into its arguments or its cached inputs; it returns new arrays
  (or passes ``dout`` through unchanged where the local derivative is 1);
- every ``backward`` multiplies by its upstream gradient ``dout``, loss layers included;
- the forward cache lives in underscore attributes, and ``backward`` before ``forward`` raises
  ``RuntimeError`` naming the layer;
- a gradient returned for an input has that input's shape (broadcasting undone by ``sum_to``);
- layers keep the floating dtype they are given.

Layers with parameters (:class:`~chainrule.layers.base.ParameterLayer`) expose them as
``params`` and their gradients as ``grads`` (name → array), which is how ``gradient_check`` and
the optimizers find them; ``grad_attrs`` names the attribute that holds each gradient
(``W`` → ``dW``), which networks read directly on the training path.
"""

from chainrule.layers.activations import Exp, Log, Relu, Sigmoid, Tanh
from chainrule.layers.affine import Affine, MatMul, matmul_backward
from chainrule.layers.arithmetic import AddLayer, DivLayer, MulLayer, NegLayer, PowLayer, SubLayer
from chainrule.layers.base import ParameterLayer
from chainrule.layers.conv import Convolution, Pooling
from chainrule.layers.loss import SoftmaxWithLoss
from chainrule.layers.regularization import BatchNormalization, Dropout
from chainrule.layers.rules import LocalRule
from chainrule.layers.shape import Mean, Reshape, Sum, Transpose

__all__ = [
    "AddLayer",
    "Affine",
    "BatchNormalization",
    "Convolution",
    "DivLayer",
    "Dropout",
    "Exp",
    "LocalRule",
    "Log",
    "MatMul",
    "Mean",
    "MulLayer",
    "NegLayer",
    "ParameterLayer",
    "Pooling",
    "PowLayer",
    "Relu",
    "Reshape",
    "Sigmoid",
    "SoftmaxWithLoss",
    "SubLayer",
    "Sum",
    "Tanh",
    "Transpose",
    "matmul_backward",
]
