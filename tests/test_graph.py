"""Tests for chainrule.graph: Variable, the operators, the backward walk and no_grad.

Automatic gradients are checked three ways: against the book's numbers, against the same
layers called by hand, and against float64 central differences (chainrule.numerical_gradient)
on random expressions, including broadcasting.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule
from chainrule import graph as G
from chainrule.gradcheck import numerical_gradient
from chainrule.graph import Variable, no_grad
from chainrule.layers import (
    AddLayer,
    Affine,
    DivLayer,
    Exp,
    Log,
    MatMul,
    Mean,
    MulLayer,
    NegLayer,
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
from chainrule.models import TwoLayerNet


def numeric_grads(f, *arrays):
    """Central differences of the scalar f() with respect to each array (perturbed in place)."""
    return [numerical_gradient(lambda _: f(), a) for a in arrays]


def assert_close(actual, expected, rtol=1e-6, atol=1e-8):
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


# --- the book's numbers -----------------------------------------------------------------------


def test_apple_matches_book_and_hand_called_layers():
    apple, apple_num, tax = Variable(100, name="apple"), Variable(2, name="apple_num"), Variable(1.1, name="tax")
    price = apple * apple_num * tax
    price.backward()
    assert price.data == pytest.approx(220)
    assert (apple.grad, apple_num.grad, tax.grad) == pytest.approx((2.2, 110, 200))

    mul_apple, mul_tax = MulLayer(), MulLayer()
    hand_price = mul_tax.forward(mul_apple.forward(100.0, 2.0), 1.1)
    dapple_price, dtax = mul_tax.backward(1.0)
    dapple, dapple_num = mul_apple.backward(dapple_price)
    assert float(price.data) == hand_price  # bit for bit: the node ran the same layer
    assert (float(apple.grad), float(apple_num.grad), float(tax.grad)) == (dapple, dapple_num, dtax)


def test_apple_orange_matches_book():
    apple, apple_num = Variable(100.0), Variable(2.0)
    orange, orange_num = Variable(150.0), Variable(3.0)
    tax = Variable(1.1)
    price = (apple * apple_num + orange * orange_num) * tax
    price.backward()
    assert price.data == pytest.approx(715)
    grads = [v.grad for v in (apple_num, apple, orange, orange_num, tax)]
    assert grads == pytest.approx([110, 2.2, 3.3, 165, 650])


def test_chain_rule_example():
    x, y = Variable(1.0), Variable(2.0)
    t = x + y
    z = t**2
    z.backward()
    assert z.data == 9
    assert x.grad == pytest.approx(6) and y.grad == pytest.approx(6) and t.grad == pytest.approx(6)
    assert z.grad == 1


# --- the walk ---------------------------------------------------------------------------------


def test_fan_out_accumulates():
    x = Variable(3.0)
    y = x * x + x
    y.backward()
    assert x.grad == pytest.approx(2 * 3 + 1)


def test_fan_out_across_nodes_and_levels():
    x = Variable(0.5)
    a = G.exp(x)
    y = a * x + G.tanh(a) - x / a
    y.backward()

    def f():
        with no_grad():
            a = G.exp(x)
            return float((a * x + G.tanh(a) - x / a).data)

    (num,) = numeric_grads(f, x.data)
    assert_close(x.grad, num)


def test_backward_twice_accumulates_and_zero_grad_resets():
    x = Variable(2.0)
    y = x * x
    y.backward()
    assert x.grad == 4
    y.backward()
    assert x.grad == 8  # PyTorch's convention: gradients add up
    assert y.grad == 2
    y.zero_grad()
    assert x.grad is None and y.grad is None
    y.backward()
    assert x.grad == 4
    x.cleargrad()
    assert x.grad is None


def test_intermediate_grads_are_kept():
    x = Variable(2.0)
    h = x * 3
    y = h * h
    y.backward()
    assert h.grad == pytest.approx(12)
    assert x.grad == pytest.approx(36)


def test_each_grad_is_its_own_array():
    # AddLayer passes dout on by reference; every .grad must still be a separate array.
    x, y = Variable(np.ones(3)), Variable(np.ones(3))
    z = x + y
    w = (z * 2).sum()
    w.backward()
    assert x.grad is not y.grad and x.grad is not z.grad and y.grad is not z.grad
    x.grad[0] = 99  # writing into one gradient leaves the others alone
    assert z.grad[0] == 2 and y.grad[0] == 2


def test_backward_with_upstream_gradient():
    x = Variable(np.array([1.0, 2.0, 3.0]))
    y = x * x
    g = np.array([1.0, 0.5, -1.0])
    y.backward(g)
    assert_close(x.grad, 2 * x.data * g)
    assert y.grad is not g  # the caller's array is not adopted


def test_nonscalar_backward_without_grad_is_a_clear_error():
    y = Variable(np.ones((2, 3))) * 2
    with pytest.raises(ValueError, match=r"scalar output.*shape \(2, 3\)"):
        y.backward()
    with pytest.raises(ValueError, match="shape"):
        y.backward(np.ones(3))


def test_zero_upstream_gives_zero_grads():
    x = Variable(np.array([1.0, -2.0]))
    y = G.sigmoid(x) * G.relu(x) + G.exp(x)
    y.backward(np.zeros(2))
    assert_close(x.grad, np.zeros(2))


def test_leaf_backward():
    x = Variable(5.0)
    x.backward()
    assert x.grad == 1


def test_hundred_thousand_node_chain():
    assert sys.getrecursionlimit() <= 100_000  # the walk must not rely on recursion
    x = Variable(1.0)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    y.backward()
    assert y.data == 100_001
    assert x.grad == 1
    assert len(G.topological_order(y)) == 100_000
    del y  # releasing a long chain must not overflow the C stack either


def test_topological_order_is_deterministic():
    def build():
        a, b = Variable(1.0, name="a"), Variable(2.0, name="b")
        c = a * b
        return (c + a) * (c - b)

    orders = [[n.op for n in G.topological_order(build())] for _ in range(3)]
    assert orders[0] == orders[1] == orders[2] == ["mul", "add", "sub", "mul"]


# --- no_grad ----------------------------------------------------------------------------------


def test_no_grad_records_nothing_and_restores():
    x = Variable(2.0)
    assert G.is_grad_enabled()
    with no_grad():
        assert not G.is_grad_enabled()
        y = x * x
    assert y.creator is None
    assert G.is_grad_enabled()
    with pytest.raises(RuntimeError), no_grad():
        raise RuntimeError("boom")
    assert G.is_grad_enabled()  # restored in finally
    z = x * x
    assert z.creator is not None
    assert chainrule.no_grad is no_grad


# --- Variable ---------------------------------------------------------------------------------


def test_variable_properties():
    v = Variable(np.arange(6).reshape(2, 3), name="W")
    assert v.dtype == np.float64  # integers become float64
    assert v.shape == (2, 3) and v.ndim == 2 and v.size == 6 and len(v) == 2
    assert v.grad is None and v.name == "W"
    assert "name='W'" in repr(v) and "Variable(" in repr(v)
    s = Variable(3)
    assert s.shape == () and s.ndim == 0
    with pytest.raises(TypeError):
        len(s)
    with pytest.raises(TypeError):
        Variable(v)
    with pytest.raises(TypeError):
        Variable(1.0, name=3)
    with pytest.raises(TypeError):
        Variable(np.array(["a"]))


def test_float32_stays_float32():
    x = Variable(np.ones((2, 3), dtype=np.float32))
    y = ((x * 2 + 1) / 3 - x**2).exp().sum()
    y.backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


def test_numbers_and_arrays_on_either_side_are_constants():
    x = Variable(np.array([1.0, 2.0]))
    arr = np.array([3.0, 4.0])
    y = (2 + x) * 3 - 1 / x + arr * x + 2**x - arr / x + x**arr
    y.sum().backward()
    expected = 3 + 1 / x.data**2 + arr + np.log(2) * 2**x.data + arr / x.data**2 + arr * x.data ** (arr - 1)
    assert_close(x.grad, expected)
    for node in G.topological_order(y):
        for inp in node.inputs:
            if inp is not x and inp.creator is None:
                assert inp.is_constant and inp.grad is None


def test_unary_plus_and_neg():
    x = Variable(3.0)
    y = -(+x)
    y.backward()
    assert y.data == -3 and x.grad == -1


# --- each node runs the layer --------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "layer_type"),
    [
        (lambda x: x * 2, MulLayer),
        (lambda x: x + 2, AddLayer),
        (G.relu, Relu),
        (G.sigmoid, Sigmoid),
        (G.tanh, Tanh),
        (lambda x: x - 2, SubLayer),
        (lambda x: x / 2, DivLayer),
        (lambda x: x**2, PowLayer),
        (G.exp, Exp),
        (G.log, Log),
        (lambda x: -x, NegLayer),
        (lambda x: x.sum(), Sum),
        (lambda x: x.mean(), Mean),
        (lambda x: x.reshape(-1), Reshape),
        (lambda x: x.T, Transpose),
        (lambda x: x @ np.ones((3, 2)), MatMul),
    ],
)
def test_nodes_run_layers(build, layer_type):
    x = Variable(np.array([[0.5, 1.5, 2.0], [1.0, 0.25, 3.0]]))
    y = build(x)
    assert isinstance(y.creator.layer, layer_type)


def test_activation_nodes_equal_hand_called_layers():
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((4, 3))
    g = rng.standard_normal((4, 3))
    for fn, layer in ((G.relu, Relu()), (G.sigmoid, Sigmoid()), (G.tanh, Tanh())):
        x = Variable(x0.copy())
        y = fn(x)
        y.backward(g)
        assert np.array_equal(y.data, layer.forward(x0))
        assert np.array_equal(x.grad, layer.backward(g))


def test_affine_and_softmax_nodes_equal_hand_called_layers():
    rng = np.random.default_rng(1)
    x0, W0, b0 = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    t = np.array([0, 2, 1, 1, 0])
    x, W, b = Variable(x0), Variable(W0), Variable(b0)
    loss = G.softmax_cross_entropy(G.affine(x, W, b), t)
    loss.backward()
    aff, last = Affine(W0, b0), SoftmaxWithLoss()
    hand = last.forward(aff.forward(x0), t)
    dx = aff.backward(last.backward(1.0))
    assert float(loss.data) == hand
    assert np.array_equal(x.grad, dx)
    assert np.array_equal(W.grad, aff.dW) and np.array_equal(b.grad, aff.db)


def test_two_layer_net_from_variables_matches_net_gradient():
    net = TwoLayerNet(6, 5, 3, weight_init_std=0.5, seed=0)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 6))
    t = rng.integers(0, 3, size=8)
    params = {k: Variable(v, name=k) for k, v in net.params.items()}
    h = G.relu(G.affine(x, params["W1"], params["b1"]))
    loss = G.softmax_cross_entropy(G.affine(h, params["W2"], params["b2"]), t)
    loss.backward()
    expected = net.gradient(x, t)
    assert float(loss.data) == pytest.approx(net.loss(x, t), rel=1e-12)
    for k, g in expected.items():
        assert_close(params[k].grad, g, rtol=1e-10, atol=1e-12)


def test_softmax_cross_entropy_with_one_hot_labels():
    rng = np.random.default_rng(3)
    x = Variable(rng.standard_normal((3, 4)))
    t = np.eye(4)[[1, 3, 0]]
    loss = G.softmax_cross_entropy(x, t)
    loss.backward()

    def f():
        return SoftmaxWithLoss().forward(x.data, t)

    (num,) = numeric_grads(f, x.data)
    assert_close(x.grad, num)


def test_sum_and_mean_axis_validation():
    x = Variable(np.ones((2, 3)))
    with pytest.raises(ValueError, match="axis"):
        x.sum(axis=2)
    with pytest.raises(ValueError, match="repeated"):
        x.sum(axis=(0, 0))
    with pytest.raises(ValueError, match="MatMul"):
        Variable(np.ones((2, 3))) @ np.ones((2, 3))


# --- random expressions against central differences ------------------------------------------

SHAPE_PAIRS = [((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((), ()), ((), (2, 3)), ((2, 3), ()), ((5,), (5,))]
BINARY = ["add", "sub", "mul", "div", "pow", "radd", "rsub", "rmul", "rdiv"]
UNARY = ["tanh", "sigmoid", "neg", "exp_tanh", "log_sq", "square", "mean_keep"]


def run_program(a, b, steps):
    """Apply ``steps`` to the variables a and b; every intermediate stays well conditioned."""
    y = a
    for kind, use_b in steps:
        other = b if use_b else a
        if kind == "add":
            y = y + other
        elif kind == "sub":
            y = y - other
        elif kind == "mul":
            y = y * other
        elif kind == "div":
            y = y / (other * other + 1)
        elif kind == "pow":
            y = (y * y + 1) ** G.tanh(other)
        elif kind == "radd":
            y = other + y
        elif kind == "rsub":
            y = other - y
        elif kind == "rmul":
            y = G.tanh(other) * y
        elif kind == "rdiv":
            y = other / (y * y + 1)
        elif kind == "tanh":
            y = G.tanh(y)
        elif kind == "sigmoid":
            y = G.sigmoid(y)
        elif kind == "neg":
            y = -y
        elif kind == "exp_tanh":
            y = G.exp(G.tanh(y))
        elif kind == "log_sq":
            y = G.log(y * y + 1)
        elif kind == "square":
            y = y**2
        elif kind == "mean_keep":
            y = y - y.mean(axis=-1, keepdims=True) if y.ndim else y
    return y


@settings(max_examples=40, deadline=None)
@given(
    shapes=st.sampled_from(SHAPE_PAIRS),
    steps=st.lists(st.tuples(st.sampled_from(BINARY + UNARY), st.booleans()), min_size=1, max_size=6),
    seed=st.integers(0, 2**16),
)
def test_random_expressions_match_central_differences(shapes, steps, seed):
    rng = np.random.default_rng(seed)
    a0 = rng.uniform(0.5, 1.5, size=shapes[0])
    b0 = rng.uniform(0.5, 1.5, size=shapes[1])
    steps = [("add", True), *steps]  # b always takes part
    a, b = Variable(np.array(a0)), Variable(np.array(b0))
    y = run_program(a, b, steps)
    dout = rng.standard_normal(y.shape)
    loss = (y * dout).sum()
    loss.backward()
    assert a.grad.shape == a.shape and b.grad.shape == b.shape

    def f():
        with no_grad():
            return float((run_program(a, b, steps) * dout).sum().data)

    num_a, num_b = numeric_grads(f, a.data, b.data)
    # Central differences err by about h**2 times the third derivative, which scales with the
    # gradient's largest entries, not with each entry: the tolerance follows that scale (as
    # gradient_check's does), else a small entry beside large ones fails on truncation error.
    scale = max(np.abs(num_a).max(), np.abs(num_b).max(), 1.0)
    assert_close(a.grad, num_a, rtol=1e-5, atol=1e-7 * scale)
    assert_close(b.grad, num_b, rtol=1e-5, atol=1e-7 * scale)


@pytest.mark.parametrize(("sa", "sb"), [((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((), (2, 3)), ((2, 3), ())])
def test_broadcast_grads_have_input_shapes(sa, sb):
    rng = np.random.default_rng(5)
    a, b = Variable(rng.uniform(1, 2, sa)), Variable(rng.uniform(1, 2, sb))
    y = (a * b + a / b - b**a + (a - b)).sum()
    y.backward()
    assert a.grad.shape == sa and b.grad.shape == sb

    def f():
        with no_grad():
            return float((a * b + a / b - b**a + (a - b)).sum().data)

    num_a, num_b = numeric_grads(f, a.data, b.data)
    assert_close(a.grad, num_a)
    assert_close(b.grad, num_b)


def test_matmul_reshape_transpose_sum_axis():
    rng = np.random.default_rng(6)
    X = Variable(rng.standard_normal((4, 3)))
    W = Variable(rng.standard_normal((3, 2)))

    def build():
        h = (X @ W).T.reshape(2, 2, 2)  # (2, 4) → (2, 2, 2)
        return (h.sum(axis=1) * G.transpose(h, (2, 0, 1)).mean(axis=(0, 1))).sum()

    y = build()
    y.backward()

    def f():
        with no_grad():
            return float(build().data)

    num_X, num_W = numeric_grads(f, X.data, W.data)
    assert_close(X.grad, num_X)
    assert_close(W.grad, num_W)


def test_activation_methods_and_item_as_micrograd_and_pytorch_have_them():
    x = Variable(np.array([-1.0, 0.5, 2.0]), name="x")
    for method, function in (("relu", G.relu), ("sigmoid", G.sigmoid), ("tanh", G.tanh), ("exp", G.exp)):
        y = getattr(x, method)()
        np.testing.assert_array_equal(y.data, function(x).data)
        assert y.creator.op == function(x).creator.op
    z = (x.relu() * 3).sum()
    assert isinstance(z.item(), float) and z.item() == pytest.approx(7.5)
    z.backward()
    np.testing.assert_array_equal(x.grad, [0.0, 3.0, 3.0])
    with pytest.raises(ValueError, match=r"item\(\): the Variable has shape \(3,\)"):
        x.item()
