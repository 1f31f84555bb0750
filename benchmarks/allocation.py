"""What a steady training step allocates, per model: traced with ``tracemalloc`` (deterministic).

NumPy reports every array's memory to ``tracemalloc``, so the rise of traced memory during a
step, above what was allocated before it, is the most the step had allocated at once. With
the workspaces of ``Network.gradient`` that is NumPy's own iteration buffers (a ufunc call that
casts, broadcasts or walks a strided view may take up to 8192 entries per operand, freed
before it returns) and vectors of a row's or a class's length; without them it includes every
activation and gradient. ``tests/test_workspace.py`` asserts the bound, ``bench_training.py``
prints the table.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.models import DeepConvNet, MultiLayerNet, SimpleConvNet, TwoLayerNet
from chainrule.optim import SGD

__all__ = ["ALLOCATION_MODELS", "allocation_table", "numpy_buffer_bound", "peak_step_bytes", "without_workspaces"]


def numpy_buffer_bound(dtype: Any) -> int:
    """The most a step may allocate at once with workspaces: three operands' iteration buffers
    of 8192 entries, plus 16 KiB for per-row and per-class vectors, whatever the layer sizes."""
    return 3 * 8192 * np.dtype(dtype).itemsize + 16 * 1024


def peak_step_bytes(net: Any, x: np.ndarray, t: np.ndarray, optimizer: Any, *, batch: int, steps: int = 3) -> int:
    """The largest rise of traced memory during one of ``steps`` steady training steps
    (``gradient`` + ``optimizer.update``) on batches of ``batch`` rows of ``(x, t)``, gathered
    beforehand, after two untimed steps (the workspaces and the optimizer's state are made then)."""
    r = np.random.default_rng(0)
    idx = [r.integers(0, x.shape[0], batch) for _ in range(steps + 2)]
    xs, ts = [x[i] for i in idx], [t[i] for i in idx]
    for i in range(2):
        optimizer.update(net.params, net.gradient(xs[i], ts[i]))
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        peaks = []
        for i in range(2, steps + 2):
            start, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            optimizer.update(net.params, net.gradient(xs[i], ts[i]))
            peaks.append(tracemalloc.get_traced_memory()[1] - start)
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return max(peaks)


def without_workspaces(net: Any) -> Any:
    """``net`` with its workspaces turned off: every layer returns new arrays, as before them."""
    net._workspaces = lambda layers: ()
    return net


F32 = np.float32

#: name → (network factory, batch size), the models of the allocation table (float32)
ALLOCATION_MODELS: dict[str, tuple[Callable[[], Any], int]] = {
    "TwoLayerNet 784-50-10": (lambda: TwoLayerNet(784, 50, 10, dtype=F32, seed=0), 100),
    "MultiLayerNet 784-100×4-10": (lambda: MultiLayerNet(784, [100] * 4, 10, dtype=F32, seed=0), 100),
    "… with batch norm": (lambda: MultiLayerNet(784, [100] * 4, 10, batch_norm=True, dtype=F32, seed=0), 100),
    "… with dropout 0.2": (lambda: MultiLayerNet(784, [100] * 4, 10, dropout=0.2, dtype=F32, seed=0), 100),
    "SimpleConvNet": (lambda: SimpleConvNet(dtype=F32, seed=0), 100),
    "DeepConvNet": (lambda: DeepConvNet(dtype=F32, seed=0), 20),
}


def allocation_table() -> str:
    """Markdown: per model, what a steady step allocates at most, with and without workspaces,
    and the memory the workspaces keep. The book's path: one-hot float32 labels, ``SGD``."""
    lines = [
        "| model (float32) | batch | step's peak allocation, workspaces | without them | workspaces hold "
        "| parameters |",
        "|---|---|---|---|---|---|",
    ]
    r = np.random.default_rng(0)
    for name, (make, batch) in ALLOCATION_MODELS.items():
        net = make()
        x = r.random((2 * batch, *net.input_shape), dtype=F32)
        t = np.eye(10, dtype=F32)[r.integers(0, 10, 2 * batch)]
        with_ws = peak_step_bytes(net, x, t, SGD(lr=0.01), batch=batch)
        held = net.workspace_nbytes()
        without = peak_step_bytes(without_workspaces(make()), x, t, SGD(lr=0.01), batch=batch)
        params = sum(p.nbytes for p in net.params.values())
        lines.append(f"| {name} | {batch} | {_kib(with_ws)} | {_kib(without)} | {_kib(held)} | {_kib(params)} |")
    lines.append(
        f"\nbound asserted by tests/test_workspace.py for float32: {_kib(numpy_buffer_bound(F32))} "
        "(NumPy's iteration buffers: 3 operands × 8192 entries, + 16 KiB), whatever the layer sizes"
    )
    return "\n".join(lines)


def _kib(n: int) -> str:
    return f"{n / 1024:,.1f} KiB" if n < 1024**2 else f"{n / 1024**2:,.2f} MiB"


if __name__ == "__main__":
    print(allocation_table())
