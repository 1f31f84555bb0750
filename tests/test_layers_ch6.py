"""chainrule.layers.regularization (chapter 6): Dropout and BatchNormalization (forward by hand,
gradients, modes, errors)."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chainrule import GradientCheckError, check_layer
from chainrule.layers import BatchNormalization, Dropout


class FixedDraws:
    """Stands in for a Generator: returns the same uniform draws on every call, which freezes the
    dropout mask across the forwards of a finite-difference check."""

    def __init__(self, u):
        self.u = np.asarray(u, dtype=np.float64)

    def random(self, size):
        assert tuple(size) == self.u.shape
        return self.u.copy()


def bn_layer(d=3, seed=0, dtype=np.float64):
    r = np.random.default_rng(seed)
    return BatchNormalization((1 + 0.5 * r.standard_normal(d)).astype(dtype), r.standard_normal(d).astype(dtype))


# --- Dropout --------------------------------------------------------------------------------


def test_dropout_forward_and_backward_by_hand():
    layer = Dropout(0.5, seed=0)
    layer.rng = FixedDraws([[0.1, 0.9], [0.6, 0.5]])  # kept where u > 0.5 (the book's test)
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    x_before = x.copy()
    y = layer.forward(x)
    np.testing.assert_array_equal(y, [[0.0, 4.0], [6.0, 0.0]])  # kept entries scaled by 1/(1-p) = 2
    dout = np.array([[10.0, 20.0], [30.0, 40.0]])
    dout_before = dout.copy()
    dx = layer.backward(dout)
    np.testing.assert_array_equal(dx, [[0.0, 40.0], [60.0, 0.0]])
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(dout, dout_before)
    np.testing.assert_array_equal(layer.backward(dout), dx)  # backward leaves its cache as it was


def test_dropout_eval_is_the_identity():
    layer = Dropout(0.3, seed=0)
    x = np.random.default_rng(0).standard_normal((4, 5))
    state = layer.rng.bit_generator.state
    np.testing.assert_array_equal(layer.forward(x, train_flg=False), x)
    assert layer.rng.bit_generator.state == state  # no draw in evaluation
    dout = np.ones((4, 5))
    np.testing.assert_array_equal(layer.backward(dout), dout)
    np.testing.assert_array_equal(Dropout(0.0, seed=0).forward(x), x)  # ratio 0: identity in training too


def test_dropout_keeps_the_expected_value():
    layer = Dropout(0.25, seed=1)
    y = layer.forward(np.ones((200, 500)))
    kept = y != 0
    assert kept.mean() == pytest.approx(0.75, abs=0.005)
    np.testing.assert_allclose(y[kept], 1 / 0.75)
    assert y.mean() == pytest.approx(1.0, abs=0.01)


def test_dropout_gradient_with_a_frozen_mask():
    x = np.random.default_rng(2).standard_normal((4, 3))
    layer = Dropout(0.4)
    layer.rng = FixedDraws(np.random.default_rng(3).random((4, 3)))
    report = check_layer(layer, x)
    assert report.passed and report["x"].max_rel_err < 1e-9
    check_layer(Dropout(0.4, seed=0), x, False)  # evaluation mode: the identity


def test_dropout_masks_follow_the_seed_and_not_the_dtype():
    x = np.ones((6, 7))
    a = Dropout(0.5, seed=3).forward(x)
    b = Dropout(0.5, seed=3).forward(x)
    c = Dropout(0.5, seed=np.random.default_rng(3)).forward(x.astype(np.float32))
    np.testing.assert_array_equal(a, b)
    assert c.dtype == np.float32
    np.testing.assert_array_equal(a, c)
    layer = Dropout(0.5, seed=3)
    assert not np.array_equal(layer.forward(x), layer.forward(x))  # a fresh mask per forward


def test_dropout_backward_follows_the_last_forward():
    layer = Dropout(0.5, seed=0)
    x = np.ones((3, 4))
    layer.forward(x)
    layer.forward(x, train_flg=False)
    np.testing.assert_array_equal(layer.backward(x), x)  # the evaluation forward came last


@pytest.mark.parametrize("ratio", [1.0, -0.1, 1.5, "0.5", None, True])
def test_dropout_ratio_errors(ratio):
    with pytest.raises(ValueError, match="Dropout: dropout_ratio must"):
        Dropout(ratio)


def test_dropout_usage_errors():
    layer = Dropout(0.5, seed=0)
    with pytest.raises(RuntimeError, match="Dropout: backward"):
        layer.backward(np.ones(3))
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"Dropout: expected dout of shape \(2, 3\), got \(3, 2\)"):
        layer.backward(np.ones((3, 2)))
    with pytest.raises(TypeError, match="Dropout: expected x to hold real numbers"):
        layer.forward(np.array(["a"]))
    with pytest.raises(ValueError, match="seed must be"):
        Dropout(0.5, seed=-1)


# --- BatchNormalization ---------------------------------------------------------------------


def test_batchnorm_training_forward_by_hand():
    gamma, beta = np.array([2.0, 0.5]), np.array([1.0, -1.0])
    layer = BatchNormalization(gamma, beta)
    x = np.array([[1.0, 2.0], [3.0, 6.0]])  # batch mean [2, 4], biased variance [1, 4]
    x_before = x.copy()
    y = layer.forward(x)
    eps = 1e-5
    xn = np.array([[-1.0, -2.0], [1.0, 2.0]]) / np.sqrt(np.array([1.0, 4.0]) + eps)
    np.testing.assert_allclose(y, gamma * xn + beta, rtol=1e-15)
    np.testing.assert_array_equal(x, x_before)
    # Running statistics move in place: 0.9·old + 0.1·batch (they start at mean 0, variance 1).
    np.testing.assert_allclose(layer.running_mean, [0.2, 0.4], rtol=1e-15)
    np.testing.assert_allclose(layer.running_var, [1.0, 1.3], rtol=1e-15)


def test_batchnorm_eval_uses_running_statistics():
    rm, rv = np.array([1.0, -1.0]), np.array([4.0, 0.25])
    layer = BatchNormalization(np.array([2.0, 1.0]), np.array([0.0, 3.0]), 0.9, rm, rv)
    assert layer.running_mean is rm and layer.running_var is rv  # used by reference
    x = np.array([[3.0, 0.0], [1.0, -1.0], [5.0, 1.0]])
    y = layer.forward(x, train_flg=False)
    expected = np.array([2.0, 1.0]) * (x - rm) / np.sqrt(rv + 1e-5) + np.array([0.0, 3.0])
    np.testing.assert_allclose(y, expected, rtol=1e-15)
    np.testing.assert_array_equal(rm, [1.0, -1.0])  # evaluation leaves them alone
    np.testing.assert_array_equal(rv, [4.0, 0.25])
    single = layer.forward(x[:1], train_flg=False)  # one sample is fine in evaluation
    np.testing.assert_allclose(single, expected[:1])


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 1), (3, 1, 2, 2)])
def test_batchnorm_gradients(shape, train):
    d = int(np.prod(shape[1:]))
    layer = bn_layer(d, seed=1)
    layer.running_mean[...] = np.linspace(-1, 1, d)
    layer.running_var[...] = np.linspace(0.5, 2, d)
    x = 2 + 3 * np.random.default_rng(4).standard_normal(shape)
    report = check_layer(layer, x, train)  # check_layer passes train_flg on to forward
    assert list(report.checks[i].name for i in range(3)) == ["x", "gamma", "beta"]
    assert all(c.max_rel_err < 1e-6 for c in report)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(3, 6), d=st.integers(1, 4), seed=st.integers(0, 1000), train=st.booleans())
def test_batchnorm_gradients_random_shapes(n, d, seed, train):
    layer = bn_layer(d, seed=seed)
    x = np.random.default_rng([seed, 1]).standard_normal((n, d)) * 2
    # Central differences need a batch that is not nearly constant in a feature: the
    # normalization's third derivative grows like 1/σ³. (With N = 2, x̂ = ±1 whatever x is,
    # so dx is O(eps) and no finite difference resolves it.)
    assume(x.std(axis=0).min() > 0.25)
    check_layer(layer, x, train, seed=seed, rtol=1e-5)


def test_batchnorm_backward_does_not_write_into_anything():
    layer = bn_layer(3)
    x = np.random.default_rng(0).standard_normal((4, 3))
    layer.forward(x)
    xn, inv_std = layer._xn.copy(), layer._inv_std.copy()
    dout = np.random.default_rng(1).standard_normal((4, 3))
    dout_before = dout.copy()
    dx1 = layer.backward(dout)
    dx2 = layer.backward(dout)
    np.testing.assert_array_equal(dx1, dx2)
    np.testing.assert_array_equal(dout, dout_before)
    np.testing.assert_array_equal(layer._xn, xn)
    np.testing.assert_array_equal(layer._inv_std, inv_std)
    assert set(layer.grads) == {"gamma", "beta"} and layer.params["gamma"] is layer.gamma
    # Training-mode dx sums to zero over the batch (the batch mean is subtracted).
    np.testing.assert_allclose(dx1.sum(axis=0), 0, atol=1e-12)


def test_batchnorm_matches_torch():
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(5)
    x, dout = r.standard_normal((6, 4)) * 3 + 1, r.standard_normal((6, 4))
    layer = bn_layer(4, seed=5)
    y = layer.forward(x)
    dx = layer.backward(dout)

    tx = torch.tensor(x, requires_grad=True)
    tg = torch.tensor(layer.gamma, requires_grad=True)
    tb = torch.tensor(layer.beta, requires_grad=True)
    rm, rv = torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
    ty = torch.nn.functional.batch_norm(tx, rm, rv, tg, tb, training=True, momentum=0.1, eps=1e-5)
    ty.backward(torch.tensor(dout))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.dgamma, tg.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.dbeta, tb.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.running_mean, rm.numpy(), rtol=1e-12)
    # PyTorch keeps the unbiased variance (× N/(N−1)) in its running estimate; we keep the book's.
    var = x.var(axis=0)
    np.testing.assert_allclose(layer.running_var, 0.9 + 0.1 * var, rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), 0.9 + 0.1 * var * 6 / 5, rtol=1e-12)


def test_batchnorm_keeps_float32():
    layer = bn_layer(3, dtype=np.float32)
    assert layer.running_mean.dtype == np.float32 and layer.running_var.dtype == np.float32
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    assert layer.forward(x).dtype == np.float32
    assert layer.backward(np.ones((4, 3), np.float32)).dtype == np.float32
    assert layer.dgamma.dtype == np.float32 and layer.running_var.dtype == np.float32


def test_batchnorm_check_layer_catches_a_wrong_derivative():
    # The checker itself: a backward that forgets the path through the batch statistics fails.
    class Wrong(BatchNormalization):
        def backward(self, dout):
            super().backward(dout)
            return dout * self.gamma * self._inv_std

    layer = Wrong(np.ones(2), np.zeros(2))
    with pytest.raises(GradientCheckError, match=r"x\["):
        check_layer(layer, np.random.default_rng(0).standard_normal((4, 2)))


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((np.ones((2, 2)), np.zeros(2)), {}, "gamma must be a 1-D floating array"),
        ((np.ones(2, dtype=int), np.zeros(2)), {}, "gamma must be a 1-D floating array"),
        ((np.ones(2), np.zeros(3)), {}, r"beta must be a floating array of shape \(2,\).*got shape \(3,\)"),
        ((np.ones(2), None), {}, "beta must be a floating array"),
        ((np.ones(2), np.zeros(2)), {"running_mean": np.zeros(3)}, r"running_mean must be .*got shape \(3,\)"),
        ((np.ones(2), np.zeros(2)), {"running_var": np.ones(2, dtype=int)}, "running_var must be a floating"),
        ((np.ones(2), np.zeros(2)), {"momentum": 1.5}, r"momentum must lie in \[0, 1\]"),
        ((np.ones(2), np.zeros(2)), {"eps": 0.0}, "eps must be a positive number"),
    ],
)
def test_batchnorm_constructor_errors(args, kwargs, message):
    with pytest.raises(ValueError, match=f"BatchNormalization: {message}"):
        BatchNormalization(*args, **kwargs)


def test_batchnorm_usage_errors():
    layer = bn_layer(3)
    with pytest.raises(RuntimeError, match="BatchNormalization: backward"):
        layer.backward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"with 3 features, got x.shape=\(2, 4\)"):
        layer.forward(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"got x.shape=\(3,\)"):
        layer.forward(np.ones(3))
    with pytest.raises(ValueError, match=r"non-empty batch.*got x.shape=\(0, 3\)"):
        layer.forward(np.ones((0, 3)))
    layer.forward(np.ones((2, 3)) * [[1], [2]])
    with pytest.raises(ValueError, match=r"expected dout of shape \(2, 3\), got \(3, 2\)"):
        layer.backward(np.ones((3, 2)))
