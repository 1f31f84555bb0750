"""benchmarks/: the baselines compute the same training step as chainrule (so the timings compare
like with like), and the report is assembled from real measurements. No timing is asserted.

The benchmark modules are not installed; pytest finds them through ``pythonpath`` in pyproject.toml.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import harness
from book_code import BookTwoLayerNet, book_one_hot, book_training_run
from chainrule import TwoLayerNet
from chainrule.optim import SGD
from fused_loop import FusedTwoLayerNet, fused_training_run
from harness import (
    format_run_table,
    full_run_comparison,
    run_measured,
    step_floor_us,
    time_steps,
    training_step_benchmark,
)

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_training.py"


def bench_script(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=300)


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
    parent_ballast = np.ones(25_000_000)  # 200 MB here must not show up in the child's figure
    result = run_measured(["--call", "harness:gemm_gflops"])
    assert result["returncode"] == 0 and float(result["stdout"]) > 0
    assert 10 < result["peak_mb"] < parent_ballast.nbytes / 2**20  # the child alone: NumPy and 3 small matrices
    version = run_measured(["-m", "chainrule", "--version"])
    assert version["returncode"] == 0 and version["stdout"].startswith("chainrule ")


def test_fused_step_takes_a_last_batch_smaller_than_its_buffers():
    x, t = data()
    net = TwoLayerNet(12, 7, 4, weight_init_std=0.5, dtype=np.float32, seed=4)
    fused = FusedTwoLayerNet(*(net.params[k].copy() for k in ("W1", "b1", "W2", "b2")), batch=10)
    idx = np.arange(30, 37)  # 7 rows into buffers of 10
    loss = fused.train_step(x, t, idx, 0.1)
    grads = net.gradient(x[idx], t[idx])
    assert loss == pytest.approx(net.last_layer.loss, rel=1e-5)
    SGD(lr=0.1).update(net.params, grads)
    np.testing.assert_allclose(fused.W1, net.params["W1"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fused.b2, net.params["b2"], rtol=1e-5, atol=1e-6)


def test_fused_evaluate_agrees_with_chainrule_evaluate():
    from chainrule.train import evaluate

    x, t = data(n=250)
    net = TwoLayerNet(12, 7, 4, weight_init_std=0.8, dtype=np.float32, seed=5)
    fused = FusedTwoLayerNet(*(net.params[k].copy() for k in ("W1", "b1", "W2", "b2")), batch=10)
    loss, acc = fused.evaluate(x, t, chunk=64)  # chunks of 64 with a short last one
    ours_loss, ours_acc = evaluate(net, x, t)
    assert acc == ours_acc and 0.2 < acc < 1
    assert loss == pytest.approx(ours_loss, rel=1e-5)


def test_fused_training_run_trains_on_the_same_schedule_as_the_trainer():
    # Same seed → same initial weights and the same batches as Trainer (one Generator: W1, W2,
    # then a permutation per epoch); 130 steps of 20 = 5 epochs of 25 steps and a partial sixth.
    from chainrule.optim import SGD as SGD_
    from chainrule.train import Trainer

    r = np.random.default_rng(6)
    x = r.random((600, 8), dtype=np.float32)
    t = (x[:, 0] + x[:, 1] > x[:, 2] + 0.5).astype(np.int64) + (x[:, 3] > 0.7)
    x_train, t_train, x_test, t_test = x[:500], t[:500], x[500:], t[500:]
    fused = fused_training_run(x_train, t_train, x_test, t_test, iters=130, batch_size=20, lr=0.5, seed=3)
    rng = np.random.default_rng(3)
    net = TwoLayerNet(8, 50, 3, dtype=np.float32, seed=rng)
    trainer = Trainer(net, SGD_(lr=0.5), x_train, t_train, x_test, t_test, iters=130, batch_size=20, rng=rng)
    trainer.fit()
    assert fused["test_acc"] == trainer.final["test_acc"] and fused["test_acc"] > 0.7
    assert fused["seconds"] > 0


def test_full_run_comparison_rotates_the_order_and_collects_every_round(monkeypatch):
    order = []

    def fake_run(name, dataset, workdir, iters):
        order.append(name)
        seconds = {"chainrule": 2.0, "book": 8.0, "fused": 1.5}[name] + len(order) / 100
        return {"seconds": seconds, "peak_mb": 100.0 + len(order), "test_acc": 0.9 if name != "book" else 0.89}

    monkeypatch.setattr(harness, "_whole_run", fake_run)
    runs = full_run_comparison("fashion-mnist", "unused", repeats=3)
    assert order == ["chainrule", "book", "fused", "book", "fused", "chainrule", "fused", "chainrule", "book"]
    assert runs["chainrule"]["seconds"] == [2.01, 2.06, 2.08]
    assert runs["book"]["peak_mb"] == [102.0, 104.0, 109.0]
    table = format_run_table(runs, "fashion-mnist", data_mb=209.0)
    assert "| `chainrule train` (float32) | 2.06 | 2.0, 2.1, 2.1 | 0.9000 | 108 |" in table
    assert f"book ÷ chainrule {8.04 / 2.06:.2f}×" in table and "median of 3 interleaved rounds" in table
    assert "-1.00 points" not in table and "+1.00 points" in table
    assert "2 × 209 MB (float32 data) + 100 MB = 518 MB" in table
    with pytest.raises(ValueError, match="repeats must be a positive integer, got 0"):
        full_run_comparison("fashion-mnist", "unused", repeats=0)


def test_full_run_comparison_runs_each_implementation_in_its_own_process(tmp_path, monkeypatch):
    from chainrule.datasets import DatasetError, load_dataset

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the children inherit it
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))

    try:
        load_dataset("fashion-mnist", download=False)
    except DatasetError:
        pytest.skip("Fashion-MNIST is not on this machine (apt-get install dataset-fashion-mnist)")
    runs = full_run_comparison("fashion-mnist", str(tmp_path), repeats=1, iters=40)
    assert set(runs) == {"chainrule", "book", "fused"}
    for run in runs.values():
        assert len(run["seconds"]) == 1 and run["seconds"][0] > 0
        assert run["peak_mb"][0] > 200  # each child holds the float32 data set (209 MB)
        assert 0.3 < run["test_acc"] < 1
    assert runs["fused"]["test_acc"] == pytest.approx(runs["chainrule"]["test_acc"], abs=0.002)
    assert (tmp_path / "chainrule-run" / "curves.png").is_file()


def test_the_script_prints_the_step_table_with_ratios():
    proc = bench_script("--dataset", "synthetic", "--quick")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("chainrule benchmarks — data: synthetic (random 60,000 + 10,000 images")
    row = next(line for line in out.splitlines() if line.startswith("| 784-50-10, batch 100 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # Each cell: the median, then the best round in parentheses.
    timed = {name: cells[i] for i, name in enumerate(("chainrule", "fused", "book"), start=1)}
    us = {name: float(cell.split(" (")[0].replace(",", "")) for name, cell in timed.items()}
    best = {name: float(cell.split(" (")[1].rstrip(")").replace(",", "")) for name, cell in timed.items()}
    assert all(v > 0 for v in us.values()) and all(0 < best[n] <= us[n] for n in us)
    # The ratios are those of the medians (printed rounded to 1 µs).
    assert float(cells[5].rstrip("×")) == pytest.approx(us["book"] / us["chainrule"], abs=0.01 + 2 / us["chainrule"])
    assert float(cells[7]) == pytest.approx(us["chainrule"] / us["fused"], abs=0.001 + 2 / us["fused"])
    assert re.search(r"float32 GEMM rate on this machine: \d+ GFLOP/s", out)
    assert "whole default run" not in out.lower()  # only without --quick
    # The label paths: each path measured before PyTorch is imported, then with it imported.
    path_rows = [
        line for line in out.splitlines() if line.startswith(("| the book's", "| `x[batch_mask]`", "| `x.take"))
    ]
    # Without PyTorch installed the second pass is left out (its rows would repeat "no").
    torch_here = importlib.util.find_spec("torch") is not None
    assert len(path_rows) == (6 if torch_here else 3)
    assert [r.split("|")[2].strip() for r in path_rows] == ["no"] * 3 + ["yes"] * (3 if torch_here else 0)
    for row in path_rows:
        mine, fused, speed = (c.strip() for c in row.strip("|").split("|")[2:5])
        m_best, m_med = (float(v.replace(",", "")) for v in mine.split(" / "))
        f_best, f_med = (float(v.replace(",", "")) for v in fused.split(" / "))
        assert 0 < m_best <= m_med and 0 < f_best <= f_med
        assert float(speed.split(" / ")[1]) == pytest.approx(f_med / m_med, abs=0.002 + 2 / m_med)
    # The allocation table: with workspaces a step stays under NumPy's buffer bound.
    alloc = next(line for line in out.splitlines() if line.startswith("| TwoLayerNet 784-50-10 | 100 |"))
    assert float(alloc.split("|")[3].split()[0]) < 112


@pytest.mark.parametrize("value", ["0", "x"])
def test_the_scripts_repeat_must_be_a_positive_integer(value):
    proc = bench_script("--repeat", value)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--repeat" in proc.stderr and "expected a positive integer" in proc.stderr


# --------------------------------------------------------------------------------------------
# SimpleConvNet (chapter 7): the book's structure computes what chainrule computes
# --------------------------------------------------------------------------------------------


def test_book_convnet_computes_the_same_gradients_as_simple_convnet():
    from book_code import BookSimpleConvNet, book_col2im, book_im2col
    from chainrule import SimpleConvNet
    from chainrule.windows import col2im, im2col

    r = np.random.default_rng(9)
    x, t = r.random((3, 1, 28, 28)), r.integers(0, 10, 3)
    net = SimpleConvNet(weight_init_std=0.1, seed=3)
    book = BookSimpleConvNet(**{k: v.copy() for k, v in net.params.items()})
    ours, theirs = net.gradient(x, t), book.gradient(x, t)
    for k in ours:
        np.testing.assert_allclose(theirs[k], ours[k], rtol=1e-9, atol=1e-12)
    assert book.accuracy(x, t, batch_size=2) == net.accuracy(x, t)
    col = book_im2col(x, 5, 5, 2, 1)
    np.testing.assert_array_equal(col, im2col(x, 5, 5, 2, 1))
    np.testing.assert_allclose(book_col2im(col, x.shape, 5, 5, 2, 1), col2im(col, x.shape, 5, 5, 2, 1))


def test_conv_floor_counts_the_convolution_and_affine_products():
    from conv_harness import conv_floor_us

    # Conv forward and dW: 2 · (2·30·25·100·576); Affine 4320→100 and 100→10: 3 products each.
    flops = 2 * (2 * 30 * 25 * 100 * 576) + 3 * 2 * 100 * 4320 * 100 + 3 * 2 * 100 * 100 * 10
    assert conv_floor_us(100, gflops=1.0) == pytest.approx(flops / 1e9 * 1e6)


def test_convnet_step_benchmark_times_every_contender_on_the_same_network():
    from conv_harness import convnet_contenders, convnet_step_benchmark

    r = np.random.default_rng(10)
    x, t = r.random((60, 1, 28, 28), dtype=np.float32), r.integers(0, 10, 60)
    result = convnet_step_benchmark(x, t, batch_size=8, rounds=2, steps_per_round=1, gflops=50)
    expected = {"chainrule", "book"} | ({"torch"} if not result.notes else set())
    assert set(result.us_per_step) == expected and all(v > 0 for v in result.us_per_step.values())
    # Same weights, same batch: one SGD step gives the same loss in every contender.
    contenders = convnet_contenders(x, t, lr=0.05, seed=2)
    idx = np.arange(10)
    losses = {name: c["step"](idx) for name, c in contenders.items()}
    for loss in losses.values():
        assert loss == pytest.approx(losses["chainrule"], rel=1e-4)
    accuracy = {name: c["evaluate"](x, t) for name, c in contenders.items()}
    assert len(set(accuracy.values())) == 1


def test_epoch_and_evaluation_rotates_rounds_and_runs_the_book_once():
    from conv_harness import epoch_and_evaluation

    r = np.random.default_rng(11)
    x, t = r.random((40, 1, 28, 28), dtype=np.float32), r.integers(0, 10, 40)
    runs = epoch_and_evaluation(x, t, x[:20], t[:20], batch_size=20, rounds=2)
    assert len(runs["chainrule"]["epoch_s"]) == 2 and len(runs["book"]["epoch_s"]) == 1
    assert len({round(run["test_acc"], 6) for run in runs.values()}) == 1  # same weights, same batches
