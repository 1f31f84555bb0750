"""Side-by-side speed measurements of a training step and of whole runs (``bench_training.py``).

Every implementation trains the same network on the same mini-batches; their steps are timed
interleaved, round after round, in one process, so a busy machine slows all of them alike and
the ratios stay meaningful. Whole runs run in child processes, in rotated order each round,
each with its own peak memory.

Implementations of one step (gather a mini-batch, forward, backward, SGD update):
- ``chainrule``: the public API, ``net.gradient`` + ``optim.SGD.update`` (float32);
- ``book``: the book's code reproduced (``book_code.py``) — float64 weights, one-hot float64
  labels (the loader's ``one_hot_label=True`` of ch05's ``train_neuralnet.py``), layers in an
  ordered dict, every layer's input gradient computed, the loss computed again for logging,
  batches drawn with replacement;
- ``fused``: a hand-written float32 NumPy loop with preallocated buffers (``fused_loop.py``, the target);
- ``torch``: PyTorch eager, ``nn.Sequential`` + ``torch.optim.SGD`` (float32), when installed.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from book_code import BookTwoLayerNet, book_one_hot, book_training_run
from chainrule._checks import check_int
from chainrule.datasets import DatasetError, load_dataset
from chainrule.models import MultiLayerNet, TwoLayerNet
from chainrule.optim import SGD
from chainrule.runs import load_run
from chainrule.threads import TRAINING_THREADS, blas_threads
from fused_loop import FusedTwoLayerNet, fused_training_run

__all__ = [
    "WHOLE_RUNS",
    "BenchResult",
    "benchmark_report",
    "format_run_table",
    "format_step_table",
    "full_run_comparison",
    "gemm_gflops",
    "run_measured",
    "step_floor_us",
    "label_path_benchmark",
    "step_timings",
    "thread_comparison",
    "whole_run_threads",
    "format_thread_table",
    "format_path_table",
    "time_step_samples",
    "time_steps",
    "training_run_on",
    "training_step_benchmark",
]

BENCHMARKS_DIR = Path(__file__).resolve().parent


def gemm_gflops(n: int = 512, repeat: int = 20, dtype: Any = np.float32) -> float:
    """The machine's float32 matrix-multiply rate in GFLOP/s (best of ``repeat`` n×n products)."""
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=dtype)
    b = rng.random((n, n), dtype=dtype)
    out = np.empty((n, n), dtype=dtype)
    np.matmul(a, b, out=out)
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def step_floor_us(layer_sizes: list[int], batch_size: int, gflops: float) -> float:
    """Time of the matrix multiplies alone in one step, in µs, at ``gflops``.

    Per Affine layer (D → M): forward x·W and dW = xᵀ·dout, each 2·N·D·M flops, plus dx for
    every layer but the first (the data needs no gradient).
    """
    flops = 0.0
    for i, (d, m) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:], strict=True)):
        flops += (2 if i == 0 else 3) * 2 * batch_size * d * m
    return flops / (gflops * 1e9) * 1e6


def time_step_samples(
    steps: dict[str, Callable[[], Any]], *, rounds: int = 7, steps_per_round: int = 50, settle: int = 2
) -> dict[str, list[float]]:
    """µs per call of each step function in every round, timed interleaved round by round.

    Each round runs every function's block once, starting from a different function each round
    (so none always follows the same neighbour, e.g. PyTorch's thread pool), and each block
    begins with ``settle`` untimed calls: the timings are of steady training, not of the switch
    from another implementation's caches.
    """
    for fn in steps.values():  # warm-up: first-call allocations, BLAS thread start
        for _ in range(3):
            fn()
    names = list(steps)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn = steps[name]
            for _ in range(settle):
                fn()
            start = time.perf_counter()
            for _ in range(steps_per_round):
                fn()
            samples[name].append((time.perf_counter() - start) / steps_per_round * 1e6)
    return samples


def time_steps(
    steps: dict[str, Callable[[], Any]], *, rounds: int = 7, steps_per_round: int = 50, settle: int = 2
) -> dict[str, float]:
    """Median µs per call of each step function over the rounds of :func:`time_step_samples`."""
    samples = time_step_samples(steps, rounds=rounds, steps_per_round=steps_per_round, settle=settle)
    return median_and_best(samples)[0]


def median_and_best(samples: dict[str, list[float]]) -> tuple[dict[str, float], dict[str, float]]:
    """``(median, best)`` µs of each name's rounds, as :class:`BenchResult` holds them."""
    return (
        {name: statistics.median(values) for name, values in samples.items()},
        {name: min(values) for name, values in samples.items()},
    )


@dataclass
class BenchResult:
    """Median µs per training step for each implementation, at one network size."""

    label: str
    layer_sizes: list[int]
    batch_size: int
    us_per_step: dict[str, float]
    floor_us: float
    notes: list[str] = field(default_factory=list)
    #: best µs per step of each implementation (the fastest round), beside the median
    best_us: dict[str, float] = field(default_factory=dict)

    def ratio(self, slower: str, faster: str = "chainrule") -> float | None:
        if slower not in self.us_per_step or faster not in self.us_per_step:
            return None
        return self.us_per_step[slower] / self.us_per_step[faster]


def _torch_step(layer_sizes: list[int], weights: list[tuple[np.ndarray, np.ndarray]], lr: float):
    """A PyTorch eager training step over the same weights, or None when torch is absent."""
    # PyTorch's OpenMP threads spin after each op by default, stealing both cores from the NumPy
    # steps timed in between (and OpenBLAS's from torch); passive waiting keeps the comparison fair.
    # Effective only when set before torch is first imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
    except ImportError:
        return None
    modules: list[Any] = []
    for i, (W, b) in enumerate(weights):
        linear = torch.nn.Linear(W.shape[0], W.shape[1])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T, dtype=np.float32)))
            linear.bias.copy_(torch.from_numpy(b.astype(np.float32)))
        modules.append(linear)
        if i < len(weights) - 1:
            modules.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*modules)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()

    def make(x: np.ndarray, t: np.ndarray, next_idx: Callable[[], np.ndarray]):
        tx, tt = torch.from_numpy(x), torch.from_numpy(t)

        def step() -> float:
            idx = torch.from_numpy(next_idx())
            xb, tb = tx[idx], tt[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), tb)
            loss.backward()
            opt.step()
            return loss.item()

        return step

    return make


def training_step_benchmark(
    x: np.ndarray,
    t: np.ndarray,
    *,
    hidden_sizes: tuple[int, ...] = (50,),
    batch_size: int = 100,
    lr: float = 0.1,
    seed: int = 0,
    rounds: int = 7,
    steps_per_round: int = 50,
    gflops: float | None = None,
    include: tuple[str, ...] = ("chainrule", "book", "fused", "torch"),
) -> BenchResult:
    """Time one training step of each implementation on data ``x`` (N, D) float32, labels ``t`` (N,).

    With one hidden layer the network is chainrule's ``TwoLayerNet``; with more it is
    ``MultiLayerNet`` (ReLU), and only chainrule and PyTorch are timed (the book and the fused
    loop are two-layer programs). All start from the same weights (std 0.01 as the book).
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    t = np.asarray(t, dtype=np.int64)
    n, d = x.shape
    c = int(t.max()) + 1
    sizes = [d, *hidden_sizes, c]
    two_layer = len(hidden_sizes) == 1
    if two_layer:
        net: Any = TwoLayerNet(d, hidden_sizes[0], c, dtype=np.float32, seed=seed)
    else:
        net = MultiLayerNet(d, list(hidden_sizes), c, weight_init=0.01, dtype=np.float32, seed=seed)
    weights = [(net.params[f"W{i}"].copy(), net.params[f"b{i}"].copy()) for i in range(1, len(sizes))]
    optimizer = SGD(lr=lr)
    batches = np.random.default_rng(seed)

    def next_idx() -> np.ndarray:
        return batches.integers(0, n, batch_size)

    steps: dict[str, Callable[[], Any]] = {}
    if "chainrule" in include:

        def chainrule_step() -> float:
            idx = next_idx()
            grads = net.gradient(x.take(idx, axis=0), t[idx])
            optimizer.update(net.params, grads)
            return net.last_layer.loss

        steps["chainrule"] = chainrule_step
    notes = []
    if two_layer and "book" in include:
        book = BookTwoLayerNet(*weights[0], *weights[1])
        book_rng = np.random.default_rng(seed)
        t_one_hot = book_one_hot(t, c)
        steps["book"] = lambda: book.train_step(x, t_one_hot, book_rng, lr, batch_size)
    if two_layer and "fused" in include:
        fused = FusedTwoLayerNet(*weights[0], *weights[1], batch=batch_size)
        steps["fused"] = lambda: fused.train_step(x, t, next_idx(), lr)
    if "torch" in include:
        make = _torch_step(sizes, weights, lr)
        if make is None:
            notes.append("PyTorch not installed: skipped")
        else:
            steps["torch"] = make(x, t, next_idx)
    us, best = median_and_best(time_step_samples(steps, rounds=rounds, steps_per_round=steps_per_round))
    rate = gemm_gflops() if gflops is None else gflops
    label = "-".join(map(str, sizes)) + f", batch {batch_size}"
    return BenchResult(label, sizes, batch_size, us, step_floor_us(sizes, batch_size, rate), notes, best)


#: The ways a training step gets its mini-batch (chainrule and the fused loop each run all three).
LABEL_PATHS: dict[str, str] = {
    "book": "the book's: `x[batch_mask]`, one-hot float32 labels",
    "index": "`x[batch_mask]`, class-index labels",
    "take": "`x.take(idx, axis=0)`, class-index labels (chainrule train's)",
}


@dataclass
class PathResult:
    """µs per step of chainrule and the fused loop on each label path (every round's figure)."""

    samples: dict[str, list[float]]
    torch_imported: bool
    notes: list[str] = field(default_factory=list)

    def best(self, name: str) -> float:
        return min(self.samples[name])

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])

    def speed(self, path: str, stat: str = "median") -> float:
        """chainrule's speed on ``path`` as a fraction of the fused loop's on the same path (≥ 1: faster)."""
        pick = self.median if stat == "median" else self.best
        return pick(f"fused/{path}") / pick(f"chainrule/{path}")


def label_path_benchmark(
    x: np.ndarray,
    t: np.ndarray,
    *,
    batch_size: int = 100,
    lr: float = 0.1,
    seed: int = 0,
    rounds: int = 9,
    steps_per_round: int = 50,
    with_torch: bool = False,
) -> PathResult:
    """784-50-10 training steps of chainrule (``TwoLayerNet(dtype=np.float32)`` + ``SGD``, the
    public API) and of the hand-fused loop, on each of :data:`LABEL_PATHS`, interleaved in
    rotated order in one process. ``with_torch`` imports PyTorch first and times its step in
    the same rotation (its thread pool's effect on the others is part of what is measured).
    Every contender draws its own batches from an identically seeded generator.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    t = np.asarray(t, dtype=np.int64)
    n, d = x.shape
    c = int(t.max()) + 1
    one_hot = np.eye(c, dtype=np.float32)[t]
    labels = {"book": one_hot, "index": t, "take": t}
    steps: dict[str, Callable[[], Any]] = {}
    notes: list[str] = []
    for path in LABEL_PATHS:
        net = TwoLayerNet(d, 50, c, dtype=np.float32, seed=seed)
        weights = [net.params[k].copy() for k in ("W1", "b1", "W2", "b2")]
        fused = FusedTwoLayerNet(*weights, batch=batch_size)
        optimizer = SGD(lr=lr)
        tl = labels[path]

        mine_rng, fused_rng = np.random.default_rng(seed), np.random.default_rng(seed)

        def chainrule_step(net=net, optimizer=optimizer, tl=tl, path=path, rng=mine_rng) -> None:
            idx = rng.integers(0, n, batch_size)
            if path == "take":
                grads = net.gradient(x.take(idx, axis=0), tl[idx])
            else:
                grads = net.gradient(x[idx], tl[idx])  # the book's loop, line for line
            optimizer.update(net.params, grads)

        def fused_step(fused=fused, tl=tl, path=path, rng=fused_rng) -> None:
            fused.train_step(x, tl, rng.integers(0, n, batch_size), lr, gather="take" if path == "take" else "index")

        steps[f"chainrule/{path}"] = chainrule_step
        steps[f"fused/{path}"] = fused_step
    if with_torch:
        make = _torch_step([d, 50, c], [(weights[0], weights[1]), (weights[2], weights[3])], lr)
        if make is None:
            notes.append("PyTorch not installed: measured without it")
        else:
            rng = np.random.default_rng(seed)
            steps["torch"] = make(x, t, lambda: rng.integers(0, n, batch_size))
    imported = "torch" in sys.modules
    samples = time_step_samples(steps, rounds=rounds, steps_per_round=steps_per_round)
    return PathResult(samples, imported, notes)


def format_path_table(results: list[PathResult]) -> str:
    """The label-path results as one Markdown table: a row per path and torch state."""
    lines = [
        "| label path | PyTorch imported | chainrule µs best / median | fused µs best / median "
        "| chainrule's speed ÷ fused (best / median) |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        for path, text in LABEL_PATHS.items():
            mine, fused = f"chainrule/{path}", f"fused/{path}"
            lines.append(
                f"| {text} | {'yes' if r.torch_imported else 'no'} "
                f"| {r.best(mine):,.0f} / {r.median(mine):,.0f} | {r.best(fused):,.0f} / {r.median(fused):,.0f} "
                f"| {r.speed(path, 'best'):.3f} / {r.speed(path):.3f} |"
            )
        if "torch" in r.samples:
            lines.append(
                f"\nPyTorch's step in that rotation: best {r.best('torch'):,.0f} µs, median {r.median('torch'):,.0f} µs"
            )
    return "\n".join(lines)


# Runs in the child: reports the child's own peak resident memory when it exits. VmHWM is the
# high-water mark of this process's memory map, so the parent's pages (which a forked child's
# ru_maxrss counts) are not included.
_PEAK_WRAPPER = """
import atexit, runpy, sys
def _report():
    try:
        with open('/proc/self/status') as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith('VmHWM:'))
    except (OSError, StopIteration):
        import resource
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f'CHAINRULE_PEAK_KB {kb}', file=sys.stderr)
atexit.register(_report)
mode, target, *sys.argv[1:] = sys.argv[1:]
if mode == '-m':
    sys.argv[0] = target
    runpy.run_module(target, run_name='__main__', alter_sys=True)
else:  # --call package.module:function ARG...: print the function's JSON-able result
    import importlib, json
    module, _, function = target.partition(':')
    print(json.dumps(getattr(importlib.import_module(module), function)(*sys.argv[1:])))
"""


def training_run_on(implementation: str, dataset: str, iters: str = "10000") -> dict[str, float]:
    """``book_training_run`` or ``fused_training_run`` (``implementation`` "book" or "fused") on a
    named data set: what the whole-run comparison runs in a child, with its arguments as text."""
    runs = {"book": book_training_run, "fused": fused_training_run}
    (x_train, t_train), (x_test, t_test) = load_dataset(dataset)
    return runs[implementation](x_train, t_train, x_test, t_test, iters=int(iters))


def run_measured(python_args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``["-m", MODULE, ARGS...]`` (as ``python -m``) or ``["--call", "module:function", ARGS...]``
    (the function's result printed as JSON) in a child; return wall seconds, the child's own
    peak resident memory (MB), the exit status and the output. ``env``: extra environment
    variables for the child (e.g. ``OPENBLAS_NUM_THREADS``)."""
    # The child imports the benchmark modules (``--call harness:...``) from this folder.
    env = {
        **os.environ,
        **(env or {}),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCHMARKS_DIR), os.environ.get("PYTHONPATH")])),
    }
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _PEAK_WRAPPER, *python_args], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    peak_mb = None
    err_lines = []
    for line in proc.stderr.splitlines():
        if line.startswith("CHAINRULE_PEAK_KB "):
            peak_mb = int(line.split()[1]) / 1024
        else:
            err_lines.append(line)
    return {
        "seconds": seconds,
        "peak_mb": peak_mb,
        "returncode": proc.returncode,
        "stdout": proc.stdout,
        "stderr": "\n".join(err_lines),
    }


#: BLAS thread counts the thread comparison tries (OpenBLAS and OpenMP read these at start).
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def step_timings(rounds: str = "5") -> dict[str, float]:
    """Best µs per training step of chainrule's default 784-50-10 network and of SimpleConvNet
    (batch 100, random data: the timings are the data's size, not its values), interleaved.
    What the thread comparison runs in each child."""
    from conv_harness import convnet_contenders  # noqa: PLC0415 (the conv harness imports this module)

    rng = np.random.default_rng(0)
    x, t = rng.random((6000, 784), dtype=np.float32), rng.integers(0, 10, 6000)
    net, optimizer = TwoLayerNet(784, 50, 10, dtype=np.float32, seed=0), SGD(lr=0.1)
    conv = convnet_contenders(x.reshape(-1, 1, 28, 28), t, include=("chainrule",))["chainrule"]["step"]
    batches = np.random.default_rng(1)

    def mlp_step() -> None:
        idx = batches.integers(0, 6000, 100)
        optimizer.update(net.params, net.gradient(x.take(idx, axis=0), t[idx]))

    samples = time_step_samples(
        {"mlp": mlp_step, "conv": lambda: conv(batches.integers(0, 6000, 100))},
        rounds=int(rounds),
        steps_per_round=40,
        settle=2,
    )
    return {
        "mlp_us": min(samples["mlp"]),
        "mlp_median_us": statistics.median(samples["mlp"]),
        "conv_us": min(samples["conv"]),
        "conv_median_us": statistics.median(samples["conv"]),
    }


def thread_comparison(
    *, repeats: int = 3, rounds: int = 5, competing: bool = False
) -> dict[int, list[dict[str, float]]]:
    """:func:`step_timings` in child processes with 1 and with 2 BLAS threads, in rotated
    order for ``repeats`` rounds. ``competing``: a busy process spins on one core meanwhile
    (another program on the machine). Returns thread count → one timing dict per round."""
    spinner = None
    if competing:
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        out: dict[int, list[dict[str, float]]] = {1: [], 2: []}
        counts = [1, 2]
        for r in range(repeats):
            for threads in counts[r % 2 :] + counts[: r % 2]:
                env = {name: str(threads) for name in THREAD_VARIABLES}
                result = run_measured(["--call", "harness:step_timings", str(rounds)], env=env)
                if result["returncode"] != 0:
                    raise RuntimeError(f"the step timing child failed: {result['stderr'].strip()[-500:]}")
                out[threads].append(json.loads(result["stdout"]))
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    return out


def whole_run_threads(dataset: str, workdir: str, *, repeats: int = 3) -> dict[int, list[float]]:
    """Seconds of the whole default ``chainrule train`` run with ``--threads 1`` and ``--threads 2``,
    each in its own process, in rotated order for ``repeats`` rounds: the product's own A/B."""
    out: dict[int, list[float]] = {1: [], 2: []}
    counts = [1, 2]
    for r in range(repeats):
        for threads in counts[r % 2 :] + counts[: r % 2]:
            folder = Path(workdir) / f"threads-{threads}"
            shutil.rmtree(folder, ignore_errors=True)
            args = ["-m", "chainrule", "train", "--dataset", dataset, "--quiet", "--out", str(folder)]
            result = run_measured([*args, "--threads", str(threads)])
            if result["returncode"] != 0:
                raise RuntimeError(f"the --threads {threads} run failed: {result['stderr'].strip()[-500:]}")
            out[threads].append(result["seconds"])
    return out


def format_thread_table(
    runs: dict[bool, dict[int, list[dict[str, float]]]], whole: dict[int, list[float]] | None = None
) -> str:
    """The thread comparison as Markdown: best µs per step (best of the rounds) and the ratio;
    ``whole``: the whole-run A/B of :func:`whole_run_threads` as a last row (median seconds)."""
    lines = [
        "| network | other load | 1 thread µs (best) | 2 threads µs (best) | 1 thread ÷ 2 threads |",
        "|---|---|---|---|---|",
    ]
    labels = {"mlp": "784-50-10, batch 100", "conv": "SimpleConvNet, batch 100"}
    for competing, by_threads in runs.items():
        for key, label in labels.items():
            one = min(r[f"{key}_us"] for r in by_threads[1])
            two = min(r[f"{key}_us"] for r in by_threads[2])
            load = "a busy process on one core" if competing else "none"
            lines.append(f"| {label} | {load} | {one:,.0f} | {two:,.0f} | {one / two:.2f} |")
    if whole:
        one, two = statistics.median(whole[1]), statistics.median(whole[2])
        rounds = "; ".join(f"{t}: {', '.join(f'{v:.1f}' for v in whole[t])}" for t in (1, 2))
        lines.append(
            f"| whole default `chainrule train`, seconds (median; rounds {rounds}) | none | {one:.2f} | {two:.2f} "
            f"| {one / two:.2f} |"
        )
    return "\n".join(lines)


def numerical_vs_backprop(seed: int = 0) -> dict[str, float]:
    """Seconds for one backprop gradient and one numerical gradient of 784-50-10 on 3 images."""
    rng = np.random.default_rng(seed)
    x, t = rng.random((3, 784)), rng.integers(0, 10, 3)
    net = TwoLayerNet(784, 50, 10, seed=seed)
    backprop_us = time_steps({"bp": lambda: net.gradient(x, t)}, rounds=5, steps_per_round=20)["bp"]
    start = time.perf_counter()
    net.numerical_gradient(x, t)
    numeric_s = time.perf_counter() - start
    return {"backprop_s": backprop_us / 1e6, "numerical_s": numeric_s}


def format_step_table(results: list[BenchResult], gflops: float) -> str:
    """The training-step results as a Markdown table with ratios against chainrule."""
    names = ["chainrule", "fused", "book", "torch"]
    lines = [
        "| network | "
        + " | ".join(f"{n} µs/step median (best)" for n in names)
        + " | book ÷ chainrule | torch ÷ chainrule "
        "| chainrule ÷ fused | matmul floor µs (chainrule ÷ floor) |",
        "|---" * (len(names) + 5) + "|",
    ]
    for r in results:
        cells = [
            (f"{r.us_per_step[n]:,.0f}" + (f" ({r.best_us[n]:,.0f})" if n in r.best_us else ""))
            if n in r.us_per_step
            else "–"
            for n in names
        ]
        book, torch_ratio, fused = r.ratio("book"), r.ratio("torch"), r.ratio("chainrule", "fused")
        lines.append(
            f"| {r.label} | "
            + " | ".join(cells)
            + f" | {'–' if book is None else f'{book:.2f}×'} | {'–' if torch_ratio is None else f'{torch_ratio:.2f}×'}"
            + f" | {'–' if fused is None else f'{fused:.3f}'}"
            + f" | {r.floor_us:,.0f} ({r.us_per_step['chainrule'] / r.floor_us:.1f}×) |"
        )
    lines.append(f"\nfloat32 GEMM rate on this machine: {gflops:.0f} GFLOP/s (512×512, best of 20)")
    return "\n".join(lines)


def load_bench_data(dataset: str = "auto", seed: int = 0) -> tuple[tuple[np.ndarray, ...], str]:
    """``((x_train, t_train, x_test, t_test), description)`` for the benchmarks.

    ``"auto"`` uses Fashion-MNIST when it is on this machine (never downloads), else MNIST, else
    random data of the same shapes ("synthetic": the timings are the same, accuracies are not).
    """
    names = ("fashion-mnist", "mnist") if dataset == "auto" else (dataset,)
    for name in names:
        if name == "synthetic":
            break
        try:
            (x_train, t_train), (x_test, t_test) = load_dataset(name, download=(dataset != "auto"))
            return (x_train, t_train, x_test, t_test), f"{name} ({x_train.shape[0]:,} + {x_test.shape[0]:,} images)"
        except DatasetError:
            if dataset != "auto":
                raise
    rng = np.random.default_rng(seed)
    x_train = rng.random((60000, 784), dtype=np.float32)
    x_test = rng.random((10000, 784), dtype=np.float32)
    t_train, t_test = rng.integers(0, 10, 60000), rng.integers(0, 10, 10000)
    return (x_train, t_train, x_test, t_test), "synthetic (random 60,000 + 10,000 images of 784 pixels)"


def _check_repeats(repeats: Any, where: str) -> None:
    check_int(repeats, "repeats", where)


#: The whole-run implementations, in the order the first round runs them.
WHOLE_RUNS: tuple[str, ...] = ("chainrule", "book", "fused")


def _whole_run(name: str, dataset: str, workdir: str, iters: int | None) -> dict[str, Any]:
    """One whole training run in a child process: seconds, peak memory (MB) and final test accuracy."""
    if name == "chainrule":
        out = Path(workdir) / "chainrule-run"
        shutil.rmtree(out, ignore_errors=True)
        args = ["-m", "chainrule", "train", "--dataset", dataset, "--no-progress", "--out", str(out)]
        result = run_measured(args + ([] if iters is None else ["--iters", str(iters)]))
    else:
        steps = [] if iters is None else [str(iters)]
        result = run_measured(["--call", "harness:training_run_on", name, dataset, *steps])
    if result["returncode"] != 0:
        raise RuntimeError(f"the {name} training run failed: {result['stderr'].strip()[-500:]}")
    if name == "chainrule":
        result["test_acc"] = load_run(out).final["test_acc"]
    else:
        result["test_acc"] = json.loads(result["stdout"])["test_acc"]
    return result


def full_run_comparison(
    dataset: str, workdir: str, *, repeats: int = 3, iters: int | None = None
) -> dict[str, dict[str, Any]]:
    """The whole default ``chainrule train`` run against the book's loop and the fused loop.

    Each run is a child process (Python start, imports and data loading included), timed from
    outside; ``repeats`` rounds run all three, each round starting one further along, so slow
    spells of a shared machine fall on all of them. ``iters`` shortens every run (default: the
    default run's 10,000 steps). Returns, per implementation: ``seconds`` and ``peak_mb`` (one
    entry per round) and ``test_acc`` (the same every round: the runs are seeded).
    """
    _check_repeats(repeats, "full_run_comparison")
    runs: dict[str, dict[str, Any]] = {name: {"seconds": [], "peak_mb": [], "test_acc": None} for name in WHOLE_RUNS}
    for r in range(repeats):
        k = r % len(WHOLE_RUNS)
        for name in WHOLE_RUNS[k:] + WHOLE_RUNS[:k]:
            result = _whole_run(name, dataset, workdir, iters)
            runs[name]["seconds"].append(result["seconds"])
            runs[name]["peak_mb"].append(result["peak_mb"])
            runs[name]["test_acc"] = result["test_acc"]
    return runs


def format_run_table(runs: dict[str, dict[str, Any]], dataset: str, data_mb: float, iters: int = 10000) -> str:
    """The whole-run comparison as a Markdown table (median seconds), with ratios and the memory budget."""
    labels = {
        "chainrule": "`chainrule train` (float32)",
        "book": "the book's loop (float64)",
        "fused": "hand-fused loop (float32, no files)",
    }
    med = {name: statistics.median(run["seconds"]) for name, run in runs.items()}
    repeats = len(runs["chainrule"]["seconds"])
    lines = [
        f"Whole default run on {dataset} ({iters:,} steps of batch 100, loss and accuracy on all train and "
        f"test images after every epoch), each in its own process, median of {repeats} interleaved "
        f"round{'s' * (repeats != 1)}:",
        "",
        "| run | seconds (median) | all rounds | test acc | peak memory MB |",
        "|---|---|---|---|---|",
    ]
    for name, run in runs.items():
        peaks = [p for p in run["peak_mb"] if p is not None]
        lines.append(
            f"| {labels[name]} | {med[name]:.2f} | {', '.join(f'{v:.1f}' for v in run['seconds'])} "
            f"| {run['test_acc']:.4f} | {max(peaks) if peaks else float('nan'):.0f} |"
        )
    paired = [b / c for b, c in zip(runs["book"]["seconds"], runs["chainrule"]["seconds"], strict=True)]
    peak = max((p for p in runs["chainrule"]["peak_mb"] if p is not None), default=float("nan"))
    lines += [
        "",
        f"book ÷ chainrule {med['book'] / med['chainrule']:.2f}× (per round {min(paired):.2f}–{max(paired):.2f}×); "
        f"chainrule ÷ fused {med['chainrule'] / med['fused']:.2f}; accuracy difference chainrule − book "
        f"{100 * (runs['chainrule']['test_acc'] - runs['book']['test_acc']):+.2f} points; chainrule's peak memory "
        f"{peak:.0f} MB against a budget of 2 × {data_mb:.0f} MB (float32 data) + 100 MB = {2 * data_mb + 100:.0f} MB",
    ]
    return "\n".join(lines)


def benchmark_report(
    dataset: str = "auto", *, full: bool = False, larger: bool = False, quick: bool = False, repeats: int = 3
) -> str:
    """Run the comparisons and return them as Markdown text (what ``bench_training.py`` prints).

    Always: the label paths (chainrule and the fused loop on the book's path, ``x[idx]`` with
    class indices and the ``take`` path), first before PyTorch is imported, then with it
    imported and timed in the same rotation; the allocation table; the 784-50-10 training step
    at batch 100 against the book's code, the fused loop and PyTorch. ``larger``: hidden 500,
    batch 1000 and a 5-layer MLP (784-100-100-100-100-10). ``full``: 1 against 2 BLAS threads
    (alone and beside a busy process), the whole default training run against the book's loop
    and the hand-fused loop (``repeats`` interleaved rounds) with peak memory, and backprop
    against the numerical gradient.
    """
    from allocation import allocation_table  # noqa: PLC0415 (a sibling script's module)

    _check_repeats(repeats, "benchmark_report")  # before minutes of step timing, not after
    (x_train, t_train, x_test, t_test), description = load_bench_data(dataset)
    rounds, per_round = (3, 20) if quick else (9, 50)
    # The first table is measured before PyTorch is imported (its rows say whether it was). The
    # step tables run with chainrule train's BLAS thread count (chainrule.threads), all contenders alike.
    with blas_threads(TRAINING_THREADS):
        paths = [label_path_benchmark(x_train, t_train, rounds=rounds, steps_per_round=per_round)]
    allocations = allocation_table()
    threads = None
    if full:
        threads = {
            competing: thread_comparison(repeats=2 if quick else 3, competing=competing) for competing in (False, True)
        }
        whole_threads = None
        if description.split(" ")[0] != "synthetic":
            with tempfile.TemporaryDirectory() as tmp:
                whole_threads = whole_run_threads(description.split(" ")[0], tmp, repeats=repeats)
    with blas_threads(TRAINING_THREADS):
        paths.append(label_path_benchmark(x_train, t_train, rounds=rounds, steps_per_round=per_round, with_torch=True))
        gflops = gemm_gflops()
        results = [training_step_benchmark(x_train, t_train, rounds=rounds, steps_per_round=per_round, gflops=gflops)]
    if larger:
        results.append(
            training_step_benchmark(
                x_train, t_train, hidden_sizes=(500,), batch_size=1000, rounds=rounds,
                steps_per_round=max(per_round // 5, 4), gflops=gflops,
            )
        )  # fmt: skip
        results.append(
            training_step_benchmark(
                x_train, t_train, hidden_sizes=(100, 100, 100, 100), rounds=rounds,
                steps_per_round=per_round, gflops=gflops,
            )
        )  # fmt: skip
    lines = [
        f"chainrule benchmarks — data: {description}; {platform.processor() or platform.machine()}, "
        f"NumPy {np.__version__}, {os.cpu_count()} cores",
        "",
        f"Label paths: 784-50-10 float32 training steps (batch 100, SGD), chainrule's public API against the "
        f"hand-fused loop on the same path, {rounds} interleaved rounds of {per_round} steps in rotated order, "
        "first before PyTorch is imported, then with it imported and its step in the rotation; "
        f"{TRAINING_THREADS} BLAS thread (chainrule train's default) for every contender:",
        "",
        format_path_table([p for i, p in enumerate(paths) if i == 0 or p.torch_imported]),
        "",
        "Allocation per steady training step (tracemalloc, deterministic; the book's path: one-hot labels):",
        "",
        allocations,
    ]
    if threads is not None:
        lines += [
            "",
            "BLAS threads: best µs per chainrule step in child processes run with OPENBLAS_NUM_THREADS=1 or 2 "
            "(rotated), alone and beside a process that keeps one core busy:",
            "",
            format_thread_table(threads, whole_threads),
        ]
    lines += [
        "",
        f"Training step (gather a batch, forward, backward, SGD update), interleaved rounds; {TRAINING_THREADS} BLAS "
        "thread for the 784-50-10 row, the library's default for the larger ones:",
        "",
        format_step_table(results, gflops),
    ]
    for r in [*paths, *results]:
        lines.extend(f"note: {getattr(r, 'label', 'label paths')}: {note}" for note in r.notes)
    if full:
        name = description.split(" ")[0]
        if name == "synthetic":
            lines.append("\nwhole-run comparison skipped: it needs MNIST or Fashion-MNIST on this machine")
        else:
            with tempfile.TemporaryDirectory() as tmp:
                runs = full_run_comparison(name, tmp, repeats=repeats)
            data_mb = (x_train.shape[0] + x_test.shape[0]) * x_train.shape[1] * 4 / 2**20
            lines += ["", format_run_table(runs, name, data_mb)]
        cost = numerical_vs_backprop()
        lines += [
            "",
            f"Gradient of 784-50-10 on 3 images: backprop {cost['backprop_s'] * 1e6:.0f} µs, numerical "
            f"{cost['numerical_s']:.2f} s ({cost['numerical_s'] / cost['backprop_s']:,.0f}× slower)",
        ]
    return "\n".join(lines)
