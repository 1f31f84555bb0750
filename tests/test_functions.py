"""functions.py: activations, softmax, losses and sum_to."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule import cross_entropy_error, sigmoid, softmax
from chainrule.functions import log_softmax, relu, softmax_cross_entropy, sum_to


@pytest.mark.parametrize(
    ("grad_shape", "shape"),
    [((3, 4), (3, 1)), ((3, 4), (1, 4)), ((2, 3, 4), (4,)), ((2, 3, 4), ()), ((2, 3, 4), (3, 1)), ((5,), (5,))],
)
def test_sum_to_matches_broadcast_adjoint(grad_shape, shape):
    rng = np.random.default_rng(0)
    g = rng.standard_normal(grad_shape)
    out = sum_to(g, shape)
    assert np.shape(out) == shape
    # <g, broadcast(v)> == <sum_to(g), v> for every v: sum_to is the adjoint of broadcasting.
    v = rng.standard_normal(shape)
    np.testing.assert_allclose(np.sum(g * np.broadcast_to(v, grad_shape)), np.sum(out * v))


def test_sum_to_rejects_non_broadcast_shapes():
    with pytest.raises(ValueError, match="sum_to"):
        sum_to(np.ones((3, 4)), (2, 4))
    with pytest.raises(ValueError, match="larger shape"):
        sum_to(np.ones(3), (2, 3))


def test_sigmoid_values_and_extremes():
    x = np.array([-1000.0, -1.0, 0.0, 1.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = sigmoid(x)
    np.testing.assert_allclose(y, [0.0, 1 / (1 + np.e), 0.5, 1 / (1 + np.exp(-1)), 1.0], atol=1e-300)
    assert sigmoid(np.float32(3)).dtype == np.float32
    assert sigmoid(np.array([1.0], np.float32)).dtype == np.float32


def test_softmax_stable_and_normalised():
    x = np.array([[1000.0, 1000.0, -1000.0], [0.0, np.log(2.0), 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = softmax(x)
    np.testing.assert_allclose(y, [[0.5, 0.5, 0.0], [0.25, 0.5, 0.25]])
    np.testing.assert_allclose(softmax(np.array([1.0, 2.0, 3.0])).sum(), 1.0)
    assert softmax(np.ones((2, 3), np.float32)).dtype == np.float32


def test_log_softmax_is_log_of_softmax():
    x = np.random.default_rng(1).standard_normal((4, 5)) * 10
    np.testing.assert_allclose(log_softmax(x), np.log(softmax(x)), rtol=1e-12, atol=1e-12)


def test_relu():
    np.testing.assert_array_equal(relu(np.array([-2.0, 0.0, 3.0])), [0.0, 0.0, 3.0])


def test_cross_entropy_error_book_example():
    # The book's example: t = 2 one-hot, y peaks at the right class.
    t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    assert cross_entropy_error(np.array(y), np.array(t)) == pytest.approx(-np.log(0.6))
    assert cross_entropy_error(np.array([y]), np.array([2])) == pytest.approx(-np.log(0.6))


def test_cross_entropy_error_never_takes_log_zero():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = cross_entropy_error(np.array([[1.0, 0.0]]), np.array([1]))
    assert np.isfinite(loss) and loss > 700


def test_cross_entropy_error_rejects_bad_labels():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]"):
        cross_entropy_error(np.full((2, 3), 1 / 3), np.array([0, 3]))
    with pytest.raises(ValueError, match="one-hot labels must have shape"):
        cross_entropy_error(np.full((2, 3), 1 / 3), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="must be integers"):
        cross_entropy_error(np.full((2, 3), 1 / 3), np.array([0.0, 1.0]))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), c=st.integers(2, 40), scale=st.floats(0.1, 500.0), seed=st.integers(0, 2**16))
def test_fused_softmax_cross_entropy_matches_definition(n, c, scale, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c)) * scale
    t = rng.integers(0, c, n)
    x_before = x.copy()
    loss, y = softmax_cross_entropy(x, t)
    np.testing.assert_array_equal(x, x_before)  # the scores are not modified
    np.testing.assert_allclose(y, softmax(x), rtol=1e-12, atol=1e-300)
    expected = -np.mean(log_softmax(x)[np.arange(n), t])
    assert loss == pytest.approx(expected, rel=1e-12, abs=1e-12)
    onehot = np.eye(c)[t]
    assert softmax_cross_entropy(x, onehot)[0] == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_softmax_of_a_scalar_an_empty_batch_and_no_classes():
    assert softmax(3.0) == 1.0 and np.shape(softmax(3.0)) == () and log_softmax(np.float32(2)) == 0
    assert softmax(np.ones((0, 3))).shape == (0, 3)
    with pytest.raises(
        ValueError, match=r"softmax: expected at least one class along the last axis, got shape \(3, 0\)"
    ):
        softmax(np.ones((3, 0)))
    np.testing.assert_allclose(softmax(np.arange(24).reshape(2, 3, 4)).sum(axis=-1), np.ones((2, 3)))


def test_losses_of_zero_samples_are_value_errors_naming_the_function_and_shape():
    # issue 13, item 24: cross_entropy_error gave NaN, softmax_cross_entropy a ZeroDivisionError
    with pytest.raises(ValueError, match=r"cross_entropy_error: expected at least one sample, got y.shape=\(0, 3\)"):
        cross_entropy_error(np.ones((0, 3)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: expected at least one sample, got x.shape=\(0, 3\)"):
        softmax_cross_entropy(np.ones((0, 3)), np.zeros(0, dtype=int))
