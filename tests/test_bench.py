"""bench.py: the baselines compute the same training step as chainrule (so the timings compare
like with like), and the report is assembled from real measurements. No timing is asserted."""

import numpy as np
import pytest

from chainrule import TwoLayerNet
from chainrule.bench import (
    BookTwoLayerNet,
    FusedTwoLayerNet,
    book_one_hot,
    book_training_run,
    step_floor_us,
    time_steps,
    training_step_benchmark,
)
from chainrule.optim import SGD


def data(n=200, d=12, c=4, seed=0):
    r = np.random.default_rng(seed)
    return r.random((n, d), dtype=np.float32), r.integers(0, c, n)


def test_fused_step_equals_chainrule_gradient_plus_sgd():
    x, t = data()
    net = TwoLayerNet(12, 7, 4, weight_init_std=0.5, dtype=np.float32, seed=1)
    fused = FusedTwoLayerNet(*(net.params[k].copy() for k in ("W1", "b1", "W2", "b2")), batch=10)
    idx = np.arange(10, 20)
    loss = fused.train_step(x, t, idx, 0.1)
    grads = net.gradient(x[idx], t[idx])
    assert loss == pytest.approx(net.last_layer.loss, rel=1e-5)
    SGD(lr=0.1).update(net.params, grads)
    for name, ours in (("W1", fused.W1), ("b1", fused.b1), ("W2", fused.W2), ("b2", fused.b2)):
        np.testing.assert_allclose(ours, net.params[name], rtol=1e-5, atol=1e-6)


def test_book_baseline_computes_the_same_gradient_and_loss():
    x, t = data()
    net = TwoLayerNet(12, 7, 4, weight_init_std=0.5, seed=2)
    book = BookTwoLayerNet(*(net.params[k] for k in ("W1", "b1", "W2", "b2")))
    x64 = x.astype(np.float64)
    ours, theirs = net.gradient(x64, t), book.gradient(x64, t)
    for k in ours:
        np.testing.assert_allclose(theirs[k], ours[k], rtol=1e-10, atol=1e-12)
    assert book.loss(x64, t) == pytest.approx(net.loss(x64, t), abs=1e-6)  # the book adds 1e-7 inside log
    assert book.accuracy(x64, t) == pytest.approx(net.accuracy(x64, t))
    # The book trains on one-hot float64 labels (its loader's one_hot_label=True): same numbers.
    t_one_hot = book_one_hot(t, 4)
    assert t_one_hot.dtype == np.float64 and t_one_hot.shape == (x.shape[0], 4)
    np.testing.assert_array_equal(t_one_hot.argmax(axis=1), t)
    assert t_one_hot.sum() == x.shape[0]
    theirs = book.gradient(x64, t_one_hot)
    for k in ours:
        np.testing.assert_allclose(theirs[k], ours[k], rtol=1e-10, atol=1e-12)
    assert book.accuracy(x64, t_one_hot) == pytest.approx(net.accuracy(x64, t))


def test_book_training_run_learns_a_separable_problem():
    r = np.random.default_rng(3)
    x = r.random((400, 6), dtype=np.float32)
    t = (x[:, 0] > x[:, 1]).astype(np.int64)
    result = book_training_run(x[:300], t[:300], x[300:], t[300:], iters=600, batch_size=20, lr=0.5)
    assert result["test_acc"] > 0.85 and result["seconds"] > 0


def test_step_floor_counts_forward_dW_and_dx_except_first_layer():
    # 784-50-10, batch 100: 2·(2·100·784·50) + 3·(2·100·50·10) flops = 15.98 MFLOP.
    assert step_floor_us([784, 50, 10], 100, gflops=1.0) == pytest.approx(15.98e6 / 1e9 * 1e6)


def test_time_steps_reports_a_median_per_function_and_rotates_the_order():
    calls = {"a": 0, "b": 0, "c": 0}
    order = []

    def make(name):
        def fn():
            calls[name] += 1
            if not order or order[-1] != name:
                order.append(name)

        return fn

    result = time_steps({n: make(n) for n in "abc"}, rounds=3, steps_per_round=4, settle=1)
    assert set(result) == {"a", "b", "c"} and all(v > 0 for v in result.values())
    assert calls == {n: 3 + 3 * (1 + 4) for n in "abc"}  # warm-up, then per round 1 settling + 4 timed
    # After the warm-up (a, b, c) each round starts one further along: abc, bca, cab.
    assert "".join(order) == "abc" + "abc" + "bca" + "cab"


def test_training_step_benchmark_times_every_implementation():
    x, t = data(n=500, d=20, c=3)
    result = training_step_benchmark(x, t, hidden_sizes=(8,), batch_size=16, rounds=2, steps_per_round=3, gflops=50)
    expected = {"chainrule", "book", "fused"} | ({"torch"} if not result.notes else set())
    assert set(result.us_per_step) == expected
    assert result.layer_sizes == [20, 8, 3] and result.label == "20-8-3, batch 16"
    assert result.ratio("book") == pytest.approx(result.us_per_step["book"] / result.us_per_step["chainrule"])


def test_run_measured_reports_the_childs_own_peak_memory():
    from chainrule.bench import run_measured

    parent_ballast = np.ones(25_000_000)  # 200 MB here must not show up in the child's figure
    result = run_measured(["--call", "chainrule.bench:gemm_gflops"])
    assert result["returncode"] == 0 and float(result["stdout"]) > 0
    assert 10 < result["peak_mb"] < parent_ballast.nbytes / 2**20  # the child alone: NumPy and 3 small matrices
    version = run_measured(["-m", "chainrule", "--version"])
    assert version["returncode"] == 0 and version["stdout"].startswith("chainrule ")
