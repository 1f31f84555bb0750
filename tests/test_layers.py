"""chainrule.layers, chapter 5 (arithmetic, activations, affine, loss): forward values, gradients
against central differences, purity and errors."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from chainrule import AddLayer, Affine, MulLayer, Relu, Sigmoid, SoftmaxWithLoss, check_layer
from chainrule.layers import Tanh

REL = 1e-7  # max relative error of backprop against float64 central differences


def rng(seed=0):
    return np.random.default_rng(seed)


def away_from_zero(a, margin=1e-2):
    """Move entries off ReLU's kink so central differences don't straddle it."""
    return np.where(np.abs(a) < margin, margin * np.sign(a) + margin * (a == 0), a)


# --- the book's shopping examples (5.4) --------------------------------------------------------


def test_buy_apple():
    apple, apple_num, tax = 100, 2, 1.1
    mul_apple, mul_tax = MulLayer(), MulLayer()
    price = mul_tax.forward(mul_apple.forward(apple, apple_num), tax)
    assert price == pytest.approx(220)
    dapple_price, dtax = mul_tax.backward(1)
    dapple, dapple_num = mul_apple.backward(dapple_price)
    assert (dapple, dapple_num, dtax) == pytest.approx((2.2, 110, 200))


def test_buy_apple_orange():
    apple, apple_num, orange, orange_num, tax = 100, 2, 150, 3, 1.1
    mul_apple, mul_orange, add, mul_tax = MulLayer(), MulLayer(), AddLayer(), MulLayer()
    apple_price = mul_apple.forward(apple, apple_num)
    orange_price = mul_orange.forward(orange, orange_num)
    price = mul_tax.forward(add.forward(apple_price, orange_price), tax)
    assert price == pytest.approx(715)
    dall, dtax = mul_tax.backward(1)
    dapple_price, dorange_price = add.backward(dall)
    dorange, dorange_num = mul_orange.backward(dorange_price)
    dapple, dapple_num = mul_apple.backward(dapple_price)
    assert (dapple_num, dapple, dorange, dorange_num, dtax) == pytest.approx((110, 2.2, 3.3, 165, 650))


# --- forward values computed by hand -----------------------------------------------------------


def test_relu_forward_backward_values():
    layer = Relu()
    x = np.array([[1.0, -0.5], [-2.0, 3.0]])
    np.testing.assert_array_equal(layer.forward(x), [[1.0, 0.0], [0.0, 3.0]])
    dout = np.array([[10.0, 20.0], [30.0, 40.0]])
    np.testing.assert_array_equal(layer.backward(dout), [[10.0, 0.0], [0.0, 40.0]])
    np.testing.assert_array_equal(dout, [[10.0, 20.0], [30.0, 40.0]])  # the book's bug: dout[mask] = 0


def test_relu_at_zero_and_nan_follows_the_book_and_pytorch():
    # The book's mask is x <= 0: the gradient is 0 at x = 0 and passes at NaN (NaN <= 0 is False).
    layer = Relu()
    y = layer.forward(np.array([0.0, -0.0, np.nan, 2.0], dtype=np.float32))
    assert y.dtype == np.float32 and np.isnan(y[2]) and y[[0, 1, 3]].tolist() == [0.0, 0.0, 2.0]
    dx = layer.backward(np.array([5.0, 6.0, 7.0, 8.0], dtype=np.float32))
    assert dx.dtype == np.float32 and dx.tolist() == [0.0, 0.0, 7.0, 8.0]


def test_sigmoid_forward_backward_values():
    layer = Sigmoid()
    y = layer.forward(np.array([0.0, np.log(3.0)]))
    np.testing.assert_allclose(y, [0.5, 0.75])
    np.testing.assert_allclose(layer.backward(np.array([2.0, 4.0])), [2 * 0.25, 4 * 0.75 * 0.25])


def test_tanh_forward_backward_values():
    layer = Tanh()
    y = layer.forward(np.array([0.0, 1.0]))
    np.testing.assert_allclose(y, [0.0, np.tanh(1.0)])
    np.testing.assert_allclose(layer.backward(np.array([3.0, 1.0])), [3.0, 1 - np.tanh(1.0) ** 2])


def test_affine_forward_backward_values():
    W = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    b = np.array([0.5, -0.5])
    layer = Affine(W, b)
    x = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
    np.testing.assert_allclose(layer.forward(x), [[-3.5, -4.5], [5.5, 7.5]])
    dout = np.array([[1.0, 0.0], [0.0, 2.0]])
    dx = layer.backward(dout)
    np.testing.assert_allclose(dx, dout @ W.T)
    np.testing.assert_allclose(layer.dW, x.T @ dout)
    np.testing.assert_allclose(layer.db, [1.0, 2.0])


def test_affine_flattens_images_and_returns_dx_in_their_shape():
    r = rng(1)
    layer = Affine(r.standard_normal((12, 5)), r.standard_normal(5))
    x = r.standard_normal((4, 3, 2, 2))
    y = layer.forward(x)
    assert y.shape == (4, 5)
    np.testing.assert_allclose(y, x.reshape(4, 12) @ layer.W + layer.b)
    assert layer.backward(np.ones((4, 5))).shape == x.shape


def test_softmax_with_loss_values():
    layer = SoftmaxWithLoss()
    x = np.array([[0.0, np.log(3.0)], [np.log(2.0), np.log(2.0)]])
    loss = layer.forward(x, np.array([1, 0]))
    assert loss == pytest.approx((-np.log(0.75) - np.log(0.5)) / 2)
    dx = layer.backward()
    np.testing.assert_allclose(dx, (np.array([[0.25, 0.75], [0.5, 0.5]]) - [[0, 1], [1, 0]]) / 2)
    # One-hot labels give the same loss and gradient.
    layer2 = SoftmaxWithLoss()
    assert layer2.forward(x, np.array([[0.0, 1.0], [1.0, 0.0]])) == pytest.approx(loss)
    np.testing.assert_allclose(layer2.backward(1), dx)


def test_softmax_with_loss_scales_by_dout():
    x = rng(2).standard_normal((3, 4))
    layer = SoftmaxWithLoss()
    layer.forward(x, np.array([0, 1, 2]))
    base = layer.backward(1)
    np.testing.assert_allclose(layer.backward(2.5), 2.5 * base)
    np.testing.assert_array_equal(layer.backward(0), np.zeros_like(base))


# --- gradients against float64 central differences, random upstream gradient ---------------


@settings(max_examples=25, deadline=None)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4),
    seed=st.integers(0, 2**16),
)
def test_mul_and_add_gradients_any_broadcast(shapes, seed):
    r = rng(seed)
    x, y = (r.standard_normal(s) for s in shapes.input_shapes)
    for layer in (MulLayer(), AddLayer()):
        report = check_layer(layer, x, y, seed=seed)
        assert report["x"].shape == np.shape(x) and report["y"].shape == np.shape(y)
        assert all(c.max_rel_err < REL for c in report)


@pytest.mark.parametrize(("xs", "ys"), [((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((4, 3), ())])
def test_broadcast_gradients_have_input_shapes(xs, ys):
    r = rng(3)
    x, y = r.standard_normal(xs), r.standard_normal(ys)
    for layer in (MulLayer(), AddLayer()):
        layer.forward(x, y)
        dx, dy = layer.backward(r.standard_normal(np.broadcast_shapes(xs, ys)))
        assert np.shape(dx) == xs and np.shape(dy) == ys


def test_mul_with_scalar_python_number_gives_scalar_gradient():
    layer = MulLayer()
    x = np.arange(12.0).reshape(4, 3)
    layer.forward(x, 2.0)
    dx, dy = layer.backward(np.ones((4, 3)))
    assert np.shape(dy) == () and dy == pytest.approx(x.sum())
    np.testing.assert_array_equal(dx, np.full((4, 3), 2.0))


@settings(max_examples=20, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4), seed=st.integers(0, 2**16))
def test_elementwise_layer_gradients(shape, seed):
    r = rng(seed)
    # Clipped to ±5: where tanh is saturated its derivative is ~1e-8 and a relative error
    # measures only the finite difference's round-off.
    x = away_from_zero(np.clip(r.standard_normal(shape) * 3, -5, 5))
    for layer in (Relu(), Sigmoid(), Tanh()):
        report = check_layer(layer, x, seed=seed)
        assert report["x"].max_rel_err < REL, str(report)


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 5),
    feature_shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=3),
    m=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_affine_gradients(n, feature_shape, m, seed):
    r = rng(seed)
    d = int(np.prod(feature_shape))
    layer = Affine(r.standard_normal((d, m)), r.standard_normal(m))
    report = check_layer(layer, r.standard_normal((n, *feature_shape)), seed=seed)
    assert [c.name for c in report] == ["x", "W", "b"]
    assert all(c.max_rel_err < REL for c in report), str(report)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 6), c=st.integers(2, 6), one_hot=st.booleans(), seed=st.integers(0, 2**16))
def test_softmax_with_loss_gradient(n, c, one_hot, seed):
    r = rng(seed)
    t = r.integers(0, c, n)
    labels = np.eye(c)[t] if one_hot else t
    report = check_layer(SoftmaxWithLoss(), r.standard_normal((n, c)) * 3, labels, seed=seed)
    assert report["x"].max_rel_err < REL, str(report)


# --- purity, dtype, errors ---------------------------------------------------------------------


def _all_layers_with_inputs(dtype):
    r = rng(4)
    x = r.standard_normal((3, 4)).astype(dtype)
    y = r.standard_normal((3, 4)).astype(dtype)
    W, b = r.standard_normal((4, 2)).astype(dtype), r.standard_normal(2).astype(dtype)
    return [
        (MulLayer(), (x, y), (3, 4)),
        (AddLayer(), (x, y), (3, 4)),
        (Relu(), (x,), (3, 4)),
        (Sigmoid(), (x,), (3, 4)),
        (Tanh(), (x,), (3, 4)),
        (Affine(W, b), (x,), (3, 2)),
        (SoftmaxWithLoss(), (x, np.array([0, 3, 1])), ()),
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_never_modify_their_arguments_and_keep_dtype(dtype):
    for layer, inputs, out_shape in _all_layers_with_inputs(dtype):
        before = [np.array(a, copy=True) for a in inputs]
        out = layer.forward(*inputs)
        dout = np.full(out_shape, 0.5, dtype=dtype) if out_shape else 1.0
        dout_before = np.array(dout, copy=True)
        grads = layer.backward(dout)
        for a, a0 in zip(inputs, before, strict=True):
            np.testing.assert_array_equal(a, a0)
        np.testing.assert_array_equal(dout, dout_before)
        for g in grads if isinstance(grads, tuple) else (grads,):
            assert np.asarray(g).dtype == dtype, type(layer).__name__
        if out_shape:
            assert out.dtype == dtype, type(layer).__name__


def test_layers_are_stable_at_extreme_inputs():
    x = np.array([[-1000.0, 0.0, 1000.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = Sigmoid()
        np.testing.assert_allclose(s.forward(x), [[0.0, 0.5, 1.0]])
        np.testing.assert_allclose(s.backward(np.ones_like(x)), [[0.0, 0.25, 0.0]])
        loss_layer = SoftmaxWithLoss()
        assert loss_layer.forward(x, np.array([2])) == pytest.approx(0.0)
        assert loss_layer.forward(x, np.array([0])) == pytest.approx(2000.0)  # exact, not log(1e-7)
        assert np.all(np.isfinite(loss_layer.backward()))


@pytest.mark.parametrize("layer", [MulLayer(), AddLayer(), Relu(), Sigmoid(), Tanh(), SoftmaxWithLoss()])
def test_backward_before_forward_names_the_layer(layer):
    with pytest.raises(RuntimeError, match=f"{type(layer).__name__}: backward\\(\\) called before forward"):
        layer.backward(np.ones(3))


def test_affine_errors_name_layer_expected_and_actual():
    layer = Affine(np.zeros((4, 2)), np.zeros(2))
    with pytest.raises(ValueError, match=r"Affine: expected 4 input features, got 5 \(x.shape=\(3, 5\)\)"):
        layer.forward(np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"Affine: expected a batch"):
        layer.forward(np.zeros(4))
    with pytest.raises(ValueError, match=r"b must be a floating array of shape \(2,\)"):
        Affine(np.zeros((4, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="W must be a 2-D floating array"):
        Affine(np.zeros(4), np.zeros(2))
    layer.forward(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"expected dout of shape \(3, 2\), got \(3, 3\)"):
        layer.backward(np.zeros((3, 3)))
    with pytest.raises(RuntimeError, match="Affine: backward"):
        Affine(np.zeros((4, 2)), np.zeros(2)).backward(np.zeros((3, 2)))


def test_softmax_with_loss_label_errors():
    layer = SoftmaxWithLoss()
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"SoftmaxWithLoss: labels must lie in \[0, 2\] for 3 classes, got 3"):
        layer.forward(x, np.array([0, 3]))
    with pytest.raises(ValueError, match="got -1"):
        layer.forward(x, np.array([-1, 0]))
    with pytest.raises(ValueError, match=r"expected 2 labels"):
        layer.forward(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"one-hot labels must have shape \(2, 3\)"):
        layer.forward(x, np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"shape \(2,\) or one-hot"):
        layer.forward(x, np.zeros((2, 3, 1)))
    with pytest.raises(ValueError, match="expected scores of shape"):
        layer.forward(np.zeros(3), np.array([0]))
    layer.forward(x, np.array([0, 1]))
    with pytest.raises(ValueError, match="dout must be a scalar"):
        layer.backward(np.ones(2))


def test_affine_backward_can_skip_the_input_gradient():
    r = rng(5)
    layer = Affine(r.standard_normal((4, 3)), r.standard_normal(3))
    x, dout = r.standard_normal((2, 4)), r.standard_normal((2, 3))
    layer.forward(x)
    dx = layer.backward(dout)
    dW, db = layer.dW, layer.db
    assert layer.backward(dout, input_grad=False) is None
    np.testing.assert_array_equal(layer.dW, dW)
    np.testing.assert_array_equal(layer.db, db)
    assert dx.shape == x.shape


def test_softmax_with_loss_of_zero_samples_is_a_value_error():
    # issue 13, item 24: a ZeroDivisionError before
    with pytest.raises(ValueError, match=r"SoftmaxWithLoss: expected at least one sample.*x.shape=\(0, 4\)"):
        SoftmaxWithLoss().forward(np.ones((0, 4)), np.zeros(0, dtype=int))


def _complex_cases():
    from chainrule.layers import DivLayer, Exp, Log, MatMul, NegLayer, PowLayer, SubLayer

    z = np.array([[1 + 2j, 3.0]])
    W, b = np.ones((2, 3)), np.zeros(3)
    return [
        ("Affine", lambda: Affine(W, b).forward(z)),
        ("MatMul", lambda: MatMul().forward(z, W)),
        ("Relu", lambda: Relu().forward(z)),
        ("Sigmoid", lambda: Sigmoid().forward(z)),
        ("Tanh", lambda: Tanh().forward(z)),
        ("Exp", lambda: Exp().forward(z)),
        ("Log", lambda: Log().forward(z)),
        ("SoftmaxWithLoss", lambda: SoftmaxWithLoss().forward(z, np.array([0]))),
        ("MulLayer", lambda: MulLayer().forward(2.0, 1j)),
        ("AddLayer", lambda: AddLayer().forward(z, 1.0)),
        ("SubLayer", lambda: SubLayer().forward(1.0, z)),
        ("DivLayer", lambda: DivLayer().forward(z, 2.0)),
        ("NegLayer", lambda: NegLayer().forward(z)),
        ("PowLayer", lambda: PowLayer().forward(z, 2)),
    ]


@pytest.mark.parametrize("case", range(14))
def test_complex_input_is_a_type_error_naming_the_layer_and_dtype(case):
    # issue 13, item 26: complex numbers flowed through silently (or failed deep inside NumPy)
    name, call = _complex_cases()[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TypeError, match=rf"^{name}: expected \w+ to hold real numbers, got dtype complex128$"):
            call()


def test_real_input_of_every_kind_still_passes_the_layers():
    assert MulLayer().forward(100, 2) == 200
    assert AddLayer().forward(np.float32(1), True) == 2
    np.testing.assert_array_equal(Relu().forward(np.array([-1, 2], dtype=np.int8)), [0, 2])
