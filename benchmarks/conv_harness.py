"""Speed of chainrule's SimpleConvNet (chapter 7) against the book's structure and PyTorch eager.

Three contenders train the same network (Conv 30×5×5 → ReLU → 2×2 max pool → Affine 100 → ReLU
→ Affine 10, batch 100) from the same weights on the same mini-batches:

- ``chainrule``: ``SimpleConvNet(dtype=float32)``, ``net.gradient`` + ``optim.SGD.update``;
- ``book``: the book's ch07 code reproduced (``book_code.BookSimpleConvNet``): float64 weights,
  im2col/col2im with Python loops over the filter's offsets, every input gradient computed;
- ``torch``: ``nn.Sequential`` of ``Conv2d``, ``ReLU``, ``MaxPool2d``, ``Linear`` + ``torch.optim.SGD``
  (float32, eager, the CPU threads it starts with), when PyTorch is installed.

The step is timed interleaved round by round in one process (each round starts one contender
further along); an epoch (600 steps over a permutation of 60,000 images) and the evaluation
of the 10,000 test images are timed in rotated rounds too (the book's structure in one).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from book_code import BookSimpleConvNet
from chainrule.models import SimpleConvNet
from chainrule.optim import SGD
from chainrule.train import evaluate
from harness import BenchResult, format_step_table, median_and_best, time_step_samples

__all__ = ["CONTENDERS", "conv_floor_us", "conv_report", "convnet_contenders", "convnet_step_benchmark"]

CONTENDERS: tuple[str, ...] = ("chainrule", "book", "torch")


def conv_floor_us(batch: int, gflops: float, *, filters: int = 30, size: int = 5, image: int = 28) -> float:
    """The step's matrix products alone, in µs at ``gflops``: the convolution's forward and dW
    (2·FN·C·FH·FW·N·OH·OW flops each; the data needs no dx), and the Affine layers' forward, dW
    and (but for the first) dx."""
    out = image - size + 1
    conv = 2 * filters * size * size * batch * out * out
    flat = filters * (out // 2) ** 2
    affine = 3 * 2 * batch * flat * 100 + 3 * 2 * batch * 100 * 10
    return (2 * conv + affine) / (gflops * 1e9) * 1e6


def _torch_convnet(net: SimpleConvNet, lr: float) -> Any:
    """The same network in PyTorch eager with the same weights, or None when torch is absent."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see harness._torch_step
    try:
        import torch
    except ImportError:
        return None
    p = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in net.params.items()}
    conv = torch.nn.Conv2d(1, p["W1"].shape[0], p["W1"].shape[2])
    fc1 = torch.nn.Linear(p["W2"].shape[0], p["W2"].shape[1])
    fc2 = torch.nn.Linear(p["W3"].shape[0], p["W3"].shape[1])
    with torch.no_grad():
        conv.weight.copy_(p["W1"])
        conv.bias.copy_(p["b1"])
        fc1.weight.copy_(p["W2"].T)
        fc1.bias.copy_(p["b2"])
        fc2.weight.copy_(p["W3"].T)
        fc2.bias.copy_(p["b3"])
    model = torch.nn.Sequential(
        conv, torch.nn.ReLU(), torch.nn.MaxPool2d(2, 2), torch.nn.Flatten(), fc1, torch.nn.ReLU(), fc2
    )
    return torch, model, torch.optim.SGD(model.parameters(), lr=lr), torch.nn.CrossEntropyLoss()


def convnet_contenders(
    x: np.ndarray, t: np.ndarray, *, lr: float = 0.1, seed: int = 0, include: tuple[str, ...] = CONTENDERS
) -> dict[str, dict[str, Callable[..., Any]]]:
    """Per contender: ``step(idx)`` (one training step on the rows ``idx``) and ``evaluate(x, t)``
    (test accuracy, in the contender's own way: chainrule's ``evaluate``, the book's ``accuracy``
    in batches of 100, PyTorch under ``no_grad`` in chunks of 1,000)."""
    c = int(t.max()) + 1
    net = SimpleConvNet(x.shape[1:], hidden_size=100, output_size=c, dtype=np.float32, seed=seed)
    weights = {k: v.copy() for k, v in net.params.items()}
    out: dict[str, dict[str, Callable[..., Any]]] = {}
    if "chainrule" in include:
        optimizer = SGD(lr=lr)

        def chainrule_step(idx: np.ndarray) -> float:
            grads = net.gradient(x.take(idx, axis=0), t[idx])
            optimizer.update(net.params, grads)
            return net.last_layer.loss

        out["chainrule"] = {"step": chainrule_step, "evaluate": lambda xs, ts: evaluate(net, xs, ts)[1]}
    if "book" in include:
        book = BookSimpleConvNet(**weights)
        out["book"] = {"step": lambda idx: book.train_step(x, t, idx, lr), "evaluate": book.accuracy}
    if "torch" in include:
        made = _torch_convnet(net, lr)
        if made is not None:
            torch, model, opt, loss_fn = made
            tx, tt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(t)

            def torch_step(idx: np.ndarray) -> float:
                i = torch.from_numpy(idx)
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(tx[i]), tt[i])
                loss.backward()
                opt.step()
                return loss.item()

            def torch_evaluate(xs: np.ndarray, ts: np.ndarray) -> float:
                correct = 0
                with torch.no_grad():
                    for i in range(0, xs.shape[0], 1000):
                        scores = model(torch.from_numpy(np.ascontiguousarray(xs[i : i + 1000], dtype=np.float32)))
                        correct += int((scores.argmax(1).numpy() == ts[i : i + 1000]).sum())
                return correct / xs.shape[0]

            out["torch"] = {"step": torch_step, "evaluate": torch_evaluate}
    return out


def convnet_step_benchmark(
    x: np.ndarray,
    t: np.ndarray,
    *,
    batch_size: int = 100,
    rounds: int = 7,
    steps_per_round: int = 10,
    gflops: float,
    seed: int = 0,
    include: tuple[str, ...] = CONTENDERS,
) -> BenchResult:
    """Median µs per SimpleConvNet training step of each contender, interleaved round by round."""
    contenders = convnet_contenders(x, t, seed=seed, include=include)
    batches = np.random.default_rng(seed)
    n = x.shape[0]
    steps = {name: (lambda s=c["step"]: s(batches.integers(0, n, batch_size))) for name, c in contenders.items()}
    us, best = median_and_best(time_step_samples(steps, rounds=rounds, steps_per_round=steps_per_round, settle=1))
    notes = [] if "torch" in contenders or "torch" not in include else ["PyTorch not installed: skipped"]
    label = f"SimpleConvNet {'x'.join(map(str, x.shape[1:]))}, 30 5x5 filters, batch {batch_size}"
    sizes = [int(np.prod(x.shape[1:])), 100, 10]
    return BenchResult(label, sizes, batch_size, us, conv_floor_us(batch_size, gflops), notes, best)


def epoch_and_evaluation(
    x_train: np.ndarray,
    t_train: np.ndarray,
    x_test: np.ndarray,
    t_test: np.ndarray,
    *,
    batch_size: int = 100,
    seed: int = 0,
    rounds: int = 3,
    include: tuple[str, ...] = CONTENDERS,
) -> dict[str, dict[str, Any]]:
    """Seconds for one epoch of training (a fresh permutation of the training set in batches)
    and for the test-set evaluation, per contender, each starting from the same weights.

    ``rounds`` rounds, each starting one contender further along (so none always follows
    PyTorch's thread pool or always runs first); the book's structure, a minute an epoch, runs in
    the first round only. Returns per contender the lists ``epoch_s`` and ``eval_s`` and the
    test accuracy after its first epoch.
    """
    names = [n for n in CONTENDERS if n in include]
    results: dict[str, dict[str, Any]] = {}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            if name == "book" and r > 0:
                continue
            contenders = convnet_contenders(x_train, t_train, seed=seed, include=(name,))
            if name not in contenders:
                continue  # PyTorch not installed
            c = contenders[name]
            perm = np.random.default_rng(seed).permutation(x_train.shape[0])
            start = time.perf_counter()
            for i in range(0, perm.shape[0], batch_size):
                c["step"](perm[i : i + batch_size])
            epoch = time.perf_counter() - start
            start = time.perf_counter()
            acc = c["evaluate"](x_test, t_test)
            entry = results.setdefault(name, {"epoch_s": [], "eval_s": [], "test_acc": acc})
            entry["epoch_s"].append(epoch)
            entry["eval_s"].append(time.perf_counter() - start)
    return results


def conv_report(
    x_train: np.ndarray,
    t_train: np.ndarray,
    x_test: np.ndarray,
    t_test: np.ndarray,
    *,
    gflops: float,
    quick: bool = False,
    epoch: bool = True,
) -> str:
    """The SimpleConvNet comparison as Markdown: the step table, then one epoch and the test evaluation."""
    x_train = x_train.reshape(-1, 1, 28, 28) if x_train.ndim == 2 else x_train
    x_test = x_test.reshape(-1, 1, 28, 28) if x_test.ndim == 2 else x_test
    rounds, per_round = (3, 4) if quick else (7, 10)
    result = convnet_step_benchmark(x_train, t_train, rounds=rounds, steps_per_round=per_round, gflops=gflops)
    lines = [
        "SimpleConvNet training step (chapter 7; gather a batch, forward, backward, SGD update), "
        "median of interleaved rounds:",
        "",
        format_step_table([result], gflops),
    ]
    lines.extend(f"note: {note}" for note in result.notes)
    if epoch:
        runs = epoch_and_evaluation(x_train, t_train, x_test, t_test)
        lines += [
            "",
            f"One epoch ({x_train.shape[0]:,} images in batches of 100) and the test evaluation "
            f"({x_test.shape[0]:,} images), from the same weights:",
            "",
            "| contender | epoch s, median (rounds) | test evaluation s, median | test acc after one epoch |",
            "|---|---|---|---|",
        ]
        for name, r in runs.items():
            lines.append(
                f"| {name} | {statistics.median(r['epoch_s']):.1f} ({', '.join(f'{v:.1f}' for v in r['epoch_s'])}) "
                f"| {statistics.median(r['eval_s']):.2f} | {r['test_acc']:.4f} |"
            )
        if "chainrule" in runs:
            mine = statistics.median(runs["chainrule"]["epoch_s"])
            ratios = ", ".join(
                f"{name} ÷ chainrule {statistics.median(runs[name]['epoch_s']) / mine:.2f}×"
                for name in runs
                if name != "chainrule"
            )
            lines.append(f"\nepoch (medians): {ratios}")
    return "\n".join(lines)
