"""gradcheck.py: the numerical gradient and the checker itself (it must catch wrong derivatives)."""

import numpy as np
import pytest

from chainrule import GradientCheckError, Sigmoid, TwoLayerNet, check_layer, gradient_check, numerical_gradient
from chainrule.layers import Relu


def test_numerical_gradient_of_known_function():
    x = np.array([[3.0, 4.0], [-1.0, 0.5]])
    grad = numerical_gradient(lambda a: np.sum(a**2), x)
    np.testing.assert_allclose(grad, 2 * x, rtol=1e-9)
    assert grad.shape == x.shape and grad.dtype == x.dtype


def test_numerical_gradient_restores_input_exactly_even_when_f_raises():
    x = np.random.default_rng(0).standard_normal((3, 2, 2))
    before = x.copy()
    numerical_gradient(lambda a: float(np.sum(np.sin(a))), x)
    assert np.array_equal(x, before) and x.tobytes() == before.tobytes()

    calls = []

    def explode(a):
        calls.append(1)
        if len(calls) == 3:
            raise ZeroDivisionError("boom")
        return float(np.sum(a))

    with pytest.raises(ZeroDivisionError):
        numerical_gradient(explode, x)
    assert x.tobytes() == before.tobytes()


def test_numerical_gradient_rejects_non_arrays():
    with pytest.raises(TypeError, match="floating NumPy array"):
        numerical_gradient(lambda a: 0.0, [1.0, 2.0])
    with pytest.raises(TypeError, match="dtype int64"):
        numerical_gradient(lambda a: 0.0, np.arange(3))


class _SigmoidForgetsDout(Sigmoid):
    """A wrong backward that ignores the upstream gradient (an all-ones dout would hide it)."""

    def backward(self, dout):
        y = self._out
        return y * (1 - y)


class _ReluWrongSign(Relu):
    def backward(self, dout):
        return -super().backward(dout)


@pytest.mark.parametrize("bad_layer", [_SigmoidForgetsDout(), _ReluWrongSign()])
def test_checker_catches_wrong_derivatives(bad_layer):
    x = np.random.default_rng(1).standard_normal((4, 3)) + 0.05
    with pytest.raises(GradientCheckError, match=r"x\[\d+, \d+\]: backprop .* vs numerical"):
        check_layer(bad_layer, x)
    report = check_layer(bad_layer, x, raise_on_failure=False)
    assert not report.passed and "FAIL" in str(report)
    assert report["x"].max_rel_err > 1e-2


def test_checker_reports_worst_entry_and_index():
    class OneWrongEntry(Sigmoid):
        def backward(self, dout):
            dx = super().backward(dout).copy()
            dx[2, 1] += 1e-3
            return dx

    x = np.random.default_rng(2).standard_normal((4, 3))
    report = check_layer(OneWrongEntry(), x, raise_on_failure=False)
    assert report["x"].worst_index == (2, 1)
    assert report["x"].max_abs_diff == pytest.approx(1e-3, rel=1e-4)
    with pytest.raises(GradientCheckError, match=r"x\[2, 1\]"):
        report.raise_if_failed()


def test_check_layer_rejects_float32_parameters():
    from chainrule import Affine

    layer = Affine(np.zeros((2, 2), np.float32), np.zeros(2, np.float32))
    with pytest.raises(TypeError, match="parameter W of Affine is float32"):
        check_layer(layer, np.zeros((1, 2)))


def test_check_layer_leaves_callers_inputs_untouched():
    x = np.random.default_rng(3).standard_normal((2, 3)).astype(np.float32)
    before = x.copy()
    assert check_layer(Sigmoid(), x).passed
    assert x.dtype == np.float32 and np.array_equal(x, before)


def test_gradient_check_report_table_and_float32_copy():
    net = TwoLayerNet(6, 5, 3, seed=0, dtype=np.float32)
    params_before = {k: v.copy() for k, v in net.params.items()}
    x = np.random.default_rng(4).random((3, 6)).astype(np.float32)
    report = gradient_check(net, x, np.array([0, 2, 1]))
    assert report.passed
    assert [c.name for c in report] == ["W1", "b1", "W2", "b2"]
    text = str(report)
    for word in ("param", "max abs diff", "max rel err", "worst index", "W1", "6x5", "ok", "passed"):
        assert word in text
    for k, v in net.params.items():  # the float32 net itself was not touched
        assert v.dtype == np.float32 and np.array_equal(v, params_before[k])


def test_a_zero_gradient_is_reported_as_such_not_as_relative_error_one():
    from chainrule import MultiLayerNet

    # Batch norm subtracts the batch mean, so the bias before it does not change the loss.
    net = MultiLayerNet(6, [5, 4], 3, batch_norm=True, seed=0)
    x = np.random.default_rng(0).standard_normal((3, 6))
    report = gradient_check(net, x, np.array([0, 1, 2]))
    assert report.passed
    assert [c.name for c in report.zero_gradients()] == ["b1", "b2"]
    assert report["b1"].max_abs_grad <= report.atol < report["W1"].max_abs_grad
    lines = str(report).splitlines()
    b1 = next(line for line in lines if line.startswith("b1 "))
    assert "n/a (zero)" in b1 and b1.endswith("ok (zero gradient)") and "1.000e+00" not in b1
    w1 = next(line for line in lines if line.startswith("W1 "))
    assert w1.endswith("ok") and "zero" not in w1
    assert lines[-1].startswith("b1, b2: zero gradient") and "absolute tolerance 1e-09" in lines[-1]
    html = report._repr_html_()
    assert html.startswith("<table>") and html.count("<tr>") == 1 + len(report) and "zero gradient" in html


def test_gradient_check_fails_for_broken_network():
    class BrokenNet(TwoLayerNet):
        def gradient(self, x, t):
            grads = super().gradient(x, t)
            return {**grads, "b2": grads["b2"] * 1.01}

    net = BrokenNet(4, 3, 2, seed=1)
    x = np.random.default_rng(5).random((2, 4))
    report = gradient_check(net, x, np.array([0, 1]))
    assert not report.passed
    assert not report["b2"].passed and report["W1"].passed
    failing_row = '<tr style="color:#b00020;font-weight:bold"><td>b2</td>'
    assert failing_row in report._repr_html_() and "gradient check FAILED" in report._repr_html_()
    with pytest.raises(GradientCheckError, match=r"b2\[\d\]"):
        gradient_check(net, x, np.array([0, 1]), raise_on_failure=True)


# issue 13, items 27 and 28: h, the tolerances, narrow dtypes, empty batches


@pytest.mark.parametrize("h", [0, 0.0, -1e-4, float("nan"), float("inf"), True, "1e-4"])
def test_numerical_gradient_refuses_an_h_that_is_not_a_positive_finite_number(h):
    x = np.array([1.0, 2.0])
    with pytest.raises(ValueError, match=r"numerical_gradient: h must be"):
        numerical_gradient(lambda v: float(np.sum(v**2)), x, h=h)
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_numerical_gradient_of_float16_divides_by_the_step_actually_taken():
    x = np.array([1.0, 3.0, -0.5], dtype=np.float16)

    def f(v):
        return float(np.sum(v.astype(np.float64) ** 2))

    grad = numerical_gradient(f, x, h=1e-2)  # 1 ± 0.01 is held as 1.0098 and 0.99: a step of 0.0198, not 0.02
    assert grad.dtype == np.float16 and grad.shape == x.shape
    np.testing.assert_allclose(grad.astype(np.float64), 2 * x.astype(np.float64), rtol=2e-3)
    with pytest.raises(ValueError, match=r"h=0.0001 is below the resolution of float16 at x\[0\]=1"):
        numerical_gradient(f, x, h=1e-4)  # 1 ± 1e-4 rounds to 1 in float16: was an all-zero gradient
    np.testing.assert_array_equal(x, np.array([1.0, 3.0, -0.5], dtype=np.float16))


def test_book_style_numerical_gradient_of_a_float32_parameter_still_works():
    W = np.array([[0.5, -1.0]], dtype=np.float32)
    grad = numerical_gradient(lambda _: float(np.sum(W.astype(np.float64) ** 3)), W)  # f reads W, not its argument
    np.testing.assert_allclose(grad, 3 * W.astype(np.float64) ** 2, rtol=1e-2)


@pytest.mark.parametrize("name", ["rtol", "atol"])
@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), "0.1", None])
def test_tolerances_must_be_finite_numbers_at_least_zero(name, value):
    net = TwoLayerNet(3, 4, 2, seed=0)
    x, t = np.ones((2, 3)), np.array([0, 1])
    with pytest.raises(ValueError, match=rf"gradient_check: {name} must be"):
        gradient_check(net, x, t, **{name: value})  # rtol=-1 or NaN passed nothing, silently
    with pytest.raises(ValueError, match=rf"check_layer: {name} must be"):
        check_layer(Sigmoid(), np.ones(3), **{name: value})


def test_gradient_check_of_an_empty_batch_is_a_value_error():
    net = TwoLayerNet(3, 4, 2, seed=0)
    with pytest.raises(
        ValueError, match=r"gradient_check: expected a batch of at least one sample, got x.shape=\(0, 3\)"
    ):
        gradient_check(net, np.ones((0, 3)), np.zeros(0, dtype=int))
