"""The layer-style nodes chapter 5 has no layer for (chainrule.layers: arithmetic, activations,
affine, shape): gradient checks with random upstream gradients, backward before forward, and
no writing into dout or the inputs."""

import numpy as np
import pytest

from chainrule.gradcheck import check_layer
from chainrule.layers import DivLayer, Exp, Log, MatMul, Mean, NegLayer, PowLayer, Reshape, SubLayer, Sum, Transpose


def assert_close(actual, expected, rtol=1e-6, atol=1e-8):
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


POS = np.array([[0.5, 1.5, 2.0], [1.0, 0.25, 3.0]])


@pytest.mark.parametrize(
    ("layer", "inputs"),
    [
        (SubLayer(), (POS, np.array([1.0, 2.0, 3.0]))),
        (DivLayer(), (POS, np.array([[2.0], [0.5]]))),
        (PowLayer(), (POS, np.array([1.5, 2.0, -1.0]))),
        (NegLayer(), (POS,)),
        (Exp(), (POS,)),
        (Log(), (POS,)),
        (MatMul(), (POS, np.arange(6.0).reshape(3, 2))),
        (MatMul(), (np.array([1.0, 2.0, 3.0]), np.arange(6.0).reshape(3, 2))),
        (MatMul(), (POS, np.array([1.0, -1.0, 0.5]))),
        (MatMul(), (np.array([1.0, 2.0]), np.array([3.0, -1.0]))),
        (Sum(), (POS,)),
        (Sum(axis=0), (POS,)),
        (Sum(axis=(0, -1), keepdims=True), (POS,)),
        (Mean(axis=1), (POS,)),
        (Mean(), (POS,)),
        (Reshape((3, 2)), (POS,)),
        (Transpose(), (POS,)),
        (Transpose((1, 0, 2)), (np.arange(24.0).reshape(2, 3, 4),)),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, tuple) else "",
)
def test_new_layers_pass_gradient_check(layer, inputs):
    check_layer(layer, *inputs, seed=0)


@pytest.mark.parametrize(
    "layer",
    [SubLayer(), DivLayer(), PowLayer(), NegLayer(), Exp(), Log(), MatMul(), Sum(), Mean()]
    + [Reshape((6,)), Transpose()],
)
def test_new_layers_backward_before_forward_raises(layer):
    with pytest.raises(RuntimeError, match=type(layer).__name__):
        layer.backward(np.ones(3))


def test_new_layers_never_write_into_dout_or_inputs():
    rng = np.random.default_rng(4)
    for layer, inputs in (
        (SubLayer(), (POS.copy(), POS.copy())),
        (DivLayer(), (POS.copy(), POS.copy())),
        (PowLayer(), (POS.copy(), POS.copy())),
        (NegLayer(), (POS.copy(),)),
        (Exp(), (POS.copy(),)),
        (Log(), (POS.copy(),)),
        (Sum(axis=1), (POS.copy(),)),
        (Mean(axis=0, keepdims=True), (POS.copy(),)),
        (Transpose(), (POS.copy(),)),
    ):
        out = layer.forward(*inputs)
        dout = rng.standard_normal(np.shape(out))
        dout_before, inputs_before = dout.copy(), [a.copy() for a in inputs]
        layer.backward(dout)
        assert np.array_equal(dout, dout_before), type(layer).__name__
        for a, b in zip(inputs, inputs_before, strict=True):
            assert np.array_equal(a, b), type(layer).__name__


def test_pow_exponent_gradient_at_zero_and_negative_base():
    layer = PowLayer()
    layer.forward(np.array([0.0, -2.0, 2.0]), np.array([2.0, 2.0, 2.0]))
    dx, dc = layer.backward(np.ones(3))
    assert_close(dx, [0.0, -4.0, 4.0])
    assert dc[0] == 0 and np.isnan(dc[1]) and dc[2] == pytest.approx(4 * np.log(2))
