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
