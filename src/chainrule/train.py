"""Training: true epochs over reshuffled data, per-epoch evaluation, schedules, early stopping.

Unlike the book's trainer (which samples mini-batches with replacement and so only
approximately sees each sample once per "epoch"), :class:`Trainer` walks a fresh permutation
of the training set every epoch: an epoch is ``ceil(N / batch_size)`` steps and the last batch
may be smaller. After every epoch it evaluates loss and accuracy on the FULL training and test
sets (in batches of ``eval_batch_size`` rows) and appends a row to ``history``.

One ``np.random.Generator`` drives everything random in a run: pass the same Generator as the
model's ``seed`` (initialisation, dropout) and as the trainer's ``rng`` (shuffling), and the
same seed on the same data gives the same history, bit for bit (except ``seconds``).
With ``out_dir`` the trainer writes ``model.safetensors`` (everything needed to resume
exactly, see :mod:`chainrule.checkpoint`) and ``history.csv`` atomically after each epoch.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule._checks import check_labels
from chainrule._rng import as_generator
from chainrule.checkpoint import CHECKPOINT_NAME, CheckpointError, atomic_write, load_checkpoint, save_checkpoint
from chainrule.functions import softmax_cross_entropy

__all__ = [
    "DEFAULT_EVAL_BATCH",
    "HISTORY_FIELDS",
    "MONITORS",
    "SCHEDULES",
    "EarlyStopping",
    "LRSchedule",
    "Trainer",
    "TrainingDiverged",
    "dataset_fingerprint",
    "evaluate",
    "library_versions",
    "plot_history",
    "write_history_csv",
]

#: Columns of a history row (and of ``history.csv``), in order.
HISTORY_FIELDS: tuple[str, ...] = (
    "epoch",
    "iteration",
    "loss",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "lr",
    "seconds",
)
#: Rows evaluated at once when measuring loss and accuracy on a whole set.
DEFAULT_EVAL_BATCH = 10_000
SCHEDULES: tuple[str, ...] = ("none", "step", "cosine")
MONITORS: tuple[str, ...] = ("test_loss", "test_acc")
# The progress bar is advanced every this many steps: a call per step would cost more than the
# rest of the loop's bookkeeping together.
_BAR_EVERY = 20


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; the message names the iteration and the lr."""

    def __init__(self, loss: float, iteration: int, epoch: int, lr: float) -> None:
        self.loss = loss
        self.iteration = iteration
        self.epoch = epoch
        self.lr = lr
        super().__init__(
            f"training diverged: the mini-batch loss became {loss} at iteration {iteration} (epoch {epoch}) "
            f"with learning rate {lr:g}; try a lower learning rate"
        )


@dataclass(frozen=True)
class LRSchedule:
    """Learning rate per epoch, set on ``optimizer.lr`` at the start of each epoch.

    ``"none"``: the base rate throughout. ``"step"``: ``base · gamma ** (epoch // step_size)``.
    ``"cosine"``: from the base rate down to ``min_lr`` along half a cosine over the whole run,
    ``min_lr + (base - min_lr) · (1 + cos(π · epoch / total_epochs)) / 2``.
    """

    kind: str = "none"
    step_size: int = 10
    gamma: float = 0.1
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(f"LRSchedule: kind must be one of {', '.join(SCHEDULES)}, got {self.kind!r}")
        if isinstance(self.step_size, bool) or not isinstance(self.step_size, (int, np.integer)) or self.step_size < 1:
            raise ValueError(f"LRSchedule: step_size must be a positive number of epochs, got {self.step_size!r}")
        if not (math.isfinite(self.gamma) and 0 < self.gamma):
            raise ValueError(f"LRSchedule: gamma must be a positive number, got {self.gamma!r}")
        if not (math.isfinite(self.min_lr) and self.min_lr >= 0):
            raise ValueError(f"LRSchedule: min_lr must be a number >= 0, got {self.min_lr!r}")

    def lr_at(self, base_lr: float, epoch: int, total_epochs: float) -> float:
        """Learning rate for the epoch that starts after ``epoch`` completed epochs."""
        if self.kind == "step":
            return base_lr * self.gamma ** (epoch // self.step_size)
        if self.kind == "cosine":
            frac = min(epoch / total_epochs, 1.0) if total_epochs > 0 else 1.0
            return self.min_lr + (base_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * frac))
        return base_lr

    @property
    def config(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EarlyStopping:
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    ``monitor`` is ``"test_loss"`` (lower is better) or ``"test_acc"`` (higher is better).
    With ``restore_best`` the model ends with the parameters (and buffers) of its best epoch.
    """

    patience: int
    monitor: str = "test_loss"
    min_delta: float = 0.0
    restore_best: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.patience, bool) or not isinstance(self.patience, (int, np.integer)) or self.patience < 1:
            raise ValueError(f"EarlyStopping: patience must be a positive number of epochs, got {self.patience!r}")
        if self.monitor not in MONITORS:
            raise ValueError(f"EarlyStopping: monitor must be one of {', '.join(MONITORS)}, got {self.monitor!r}")
        if not (math.isfinite(self.min_delta) and self.min_delta >= 0):
            raise ValueError(f"EarlyStopping: min_delta must be a number >= 0, got {self.min_delta!r}")

    def improved(self, value: float, best: float) -> bool:
        if self.monitor == "test_acc":
            return value > best + self.min_delta
        return value < best - self.min_delta

    @property
    def config(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(model: Any, x: Any, t: Any, *, batch_size: int = DEFAULT_EVAL_BATCH) -> tuple[float, float]:
    """``(loss, accuracy)`` of ``model`` on the whole of ``(x, t)``, ``batch_size`` rows at a time.

    ``loss`` is the mean cross-entropy of the softmax of ``model.predict`` (eval mode; any
    weight-decay term is not included), ``accuracy`` the fraction of rows whose top score is
    the label. ``t`` holds class indices (N,) or one-hot rows (N, C).
    """
    x = np.asarray(x)
    t = np.asarray(t)
    n = x.shape[0] if x.ndim else 0
    if n == 0:
        raise ValueError("evaluate: x holds no samples")
    if t.shape[:1] != (n,):
        raise ValueError(f"evaluate: expected {n} labels to match x, got t.shape={t.shape}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"evaluate: batch_size must be a positive integer, got {batch_size!r}")
    total_loss = 0.0
    correct = 0
    for start in range(0, n, batch_size):
        scores = np.asarray(model.predict(x[start : start + batch_size]))
        tb = check_labels(t[start : start + batch_size], scores.shape[0], scores.shape[1], "evaluate")
        loss, _ = softmax_cross_entropy(scores, tb)
        labels = tb if tb.ndim == 1 else np.argmax(tb, axis=1)
        total_loss += loss * scores.shape[0]
        correct += int(np.count_nonzero(np.argmax(scores, axis=1) == labels))
    return total_loss / n, correct / n


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"Trainer: {name} must be a positive integer, got {value!r}")
    return int(value)


def _model_dtype(model: Any) -> np.dtype:
    params = list(model.params.values())
    if not params:
        raise ValueError(f"Trainer: the model {type(model).__name__} has no parameters to train")
    return np.asarray(params[0]).dtype


class Trainer:
    """Mini-batch training of ``model`` with ``optimizer`` over true, reshuffled epochs.

    Data: ``x_train`` (N, ...) converted once to the model's float dtype; labels as class
    indices (N,) or one-hot (N, C). Length: exactly one of ``epochs`` or ``iters`` (steps;
    a run given in steps stops mid-epoch and is evaluated at the end of each full epoch and
    at the very end, where its row's ``epoch`` is fractional).

    ``rng``: the run's Generator (or a seed) for shuffling; pass the same Generator as the
    model's ``seed`` so that one seed drives initialisation, shuffling and dropout.
    ``schedule``: ``None``/``"none"``, ``"step"``, ``"cosine"`` or an :class:`LRSchedule`.
    ``early_stopping``: ``None``, a patience (int; monitors test loss, restores the best) or
    an :class:`EarlyStopping`. ``out_dir``: where ``model.safetensors`` and ``history.csv`` are
    written after every epoch. ``progress``: show a tqdm bar on stderr. ``on_epoch_end``:
    called as ``on_epoch_end(trainer, row)`` after each evaluation (and after its checkpoint
    is written, so an exception raised there, Ctrl-C included, loses nothing). ``info``:
    JSON-able metadata stored in the checkpoints (e.g. the data set's name).

    :meth:`fit` runs to the end and returns ``history``; a NaN or infinite loss raises
    :class:`TrainingDiverged`. :meth:`from_checkpoint` resumes a run exactly.
    """

    def __init__(
        self,
        model: Any,
        optimizer: Any,
        x_train: Any,
        t_train: Any,
        x_test: Any,
        t_test: Any,
        *,
        epochs: int | None = None,
        iters: int | None = None,
        batch_size: int = 100,
        rng: int | np.random.Generator | None = None,
        schedule: str | LRSchedule | None = None,
        early_stopping: int | EarlyStopping | None = None,
        eval_batch_size: int = DEFAULT_EVAL_BATCH,
        out_dir: str | os.PathLike[str] | None = None,
        progress: bool = False,
        on_epoch_end: Callable[[Trainer, dict[str, Any]], Any] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        if (epochs is None) == (iters is None):
            raise ValueError(f"Trainer: give exactly one of epochs= or iters=, got epochs={epochs!r}, iters={iters!r}")
        self.epochs = None if epochs is None else _positive_int(epochs, "epochs")
        self.iters = None if iters is None else _positive_int(iters, "iters")
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.eval_batch_size = _positive_int(eval_batch_size, "eval_batch_size")
        self.model = model
        self.optimizer = optimizer
        dtype = _model_dtype(model)
        self.x_train, self.t_train = self._data(x_train, t_train, dtype, "train")
        self.x_test, self.t_test = self._data(x_test, t_test, dtype, "test")
        self.rng = as_generator(rng)
        self.schedule = schedule if isinstance(schedule, LRSchedule) else LRSchedule(schedule or "none")
        if isinstance(early_stopping, EarlyStopping) or early_stopping is None:
            self.early_stopping = early_stopping
        else:
            self.early_stopping = EarlyStopping(early_stopping)
        self.base_lr = float(optimizer.lr)
        if not (math.isfinite(self.base_lr) and self.base_lr > 0):
            raise ValueError(f"Trainer: the optimizer's learning rate must be a positive number, got {optimizer.lr!r}")
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.progress = bool(progress)
        self.on_epoch_end = on_epoch_end
        self.info = dict(info) if info is not None else None

        self.history: list[dict[str, Any]] = []
        self.epoch = 0  # completed epochs
        self.iteration = 0  # completed steps
        self.stopped_early = False
        self.final: dict[str, Any] | None = None  # the row describing the model as it now is
        self._epoch_step = 0  # steps done in the current epoch
        self._loss_sum = 0.0  # sum of mini-batch losses in the current epoch
        self._perm: np.ndarray | None = None
        self._best: dict[str, Any] | None = None
        self._best_arrays: dict[str, np.ndarray] | None = None

    def _data(self, x: Any, t: Any, dtype: np.dtype, split: str) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x)
        if x.ndim < 2 or x.shape[0] == 0:
            raise ValueError(f"Trainer: x_{split} must be a non-empty batch (N, ...), got shape {x.shape}")
        # Converted once here, never per batch (a float32 net trains on float32 data).
        x = np.ascontiguousarray(x, dtype=dtype)
        n_classes = self.model.config.get("output_size") if hasattr(self.model, "config") else None
        t = np.asarray(t)
        if n_classes is not None:
            t = check_labels(t, x.shape[0], int(n_classes), f"Trainer (t_{split})")
        elif t.shape[:1] != x.shape[:1]:
            raise ValueError(f"Trainer: expected {x.shape[0]} labels in t_{split}, got shape {t.shape}")
        return x, t

    # ----------------------------------------------------------------------------------------

    @property
    def iters_per_epoch(self) -> int:
        return -(-self.x_train.shape[0] // self.batch_size)

    @property
    def total_iters(self) -> int:
        return self.iters if self.iters is not None else self.epochs * self.iters_per_epoch

    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / CHECKPOINT_NAME

    @property
    def done(self) -> bool:
        return self.stopped_early or self.iteration >= self.total_iters

    def fit(self) -> list[dict[str, Any]]:
        """Train to ``epochs``/``iters`` (or until early stopping); returns ``history``.

        Can be called on a trainer restored by :meth:`from_checkpoint`; it then continues.
        If interrupted (KeyboardInterrupt), the checkpoint of the last completed epoch is on
        disk and the interrupt propagates.
        """
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        bar = self._open_bar() if self.progress and not self.done else None
        try:
            while not self.done:
                self._run_period(bar)
        finally:
            if bar is not None:
                bar.close()
        return self.history

    def _open_bar(self) -> Any:
        from tqdm import tqdm

        return tqdm(
            total=self.total_iters,
            initial=self.iteration,
            unit="it",
            desc="train",
            leave=False,
            dynamic_ncols=True,
            mininterval=0.25,
        )

    def _run_period(self, bar: Any) -> None:
        """One epoch (or the rest of it, or the run's final partial epoch), then evaluation."""
        start = time.perf_counter()
        per_epoch = self.iters_per_epoch
        if self._epoch_step == 0:
            self._perm = self.rng.permutation(self.x_train.shape[0])
            self._loss_sum = 0.0
        lr = self.schedule.lr_at(self.base_lr, self.epoch, self.total_iters / per_epoch)
        self.optimizer.lr = lr
        steps = min(per_epoch - self._epoch_step, self.total_iters - self.iteration)
        self._run_steps(steps, lr, bar)

        mean_loss = self._loss_sum / self._epoch_step
        if self._epoch_step == per_epoch:
            self.epoch += 1
            self._epoch_step = 0
            epoch_value: float = self.epoch
        else:  # a run given in steps ends mid-epoch
            epoch_value = round(self.epoch + self._epoch_step / per_epoch, 4)
        train_loss, train_acc = evaluate(self.model, self.x_train, self.t_train, batch_size=self.eval_batch_size)
        test_loss, test_acc = evaluate(self.model, self.x_test, self.t_test, batch_size=self.eval_batch_size)
        row = {
            "epoch": epoch_value,
            "iteration": self.iteration,
            "loss": mean_loss,
            "train_loss": train_loss,
            "train_acc": train_acc,
            "test_loss": test_loss,
            "test_acc": test_acc,
            "lr": lr,
            "seconds": round(time.perf_counter() - start, 4),
        }
        self.history.append(row)
        self.final = row
        self._track_best(row)
        if self.done:
            self._finish()
        self.save()
        if bar is not None:
            bar.set_postfix(epoch=epoch_value, loss=f"{mean_loss:.4f}", test_acc=f"{test_acc:.4f}", refresh=False)
        if self.on_epoch_end is not None:
            self.on_epoch_end(self, row)

    def _run_steps(self, steps: int, lr: float, bar: Any) -> None:
        # The hot loop: slice the permutation, gather the batch, backprop, update. The loss is
        # the one the gradient's forward pass computed; nothing is recomputed for logging.
        net, optimizer = self.model, self.optimizer
        params, last_layer = net.params, net.last_layer
        x, t, perm = self.x_train, self.t_train, self._perm
        size = self.batch_size
        first = self._epoch_step
        loss_sum = self._loss_sum
        done = 0
        try:
            for step in range(first, first + steps):
                idx = perm[step * size : step * size + size]
                # take gathers rows about 15% faster than x[idx] (same rows, same bytes).
                grads = net.gradient(x.take(idx, axis=0), t[idx])
                loss = last_layer.loss
                if not math.isfinite(loss):
                    raise TrainingDiverged(loss, self.iteration + done + 1, self.epoch + 1, lr)
                optimizer.update(params, grads)
                loss_sum += loss
                done += 1
                if bar is not None and done % _BAR_EVERY == 0:
                    bar.update(_BAR_EVERY)
        finally:
            self.iteration += done
            self._epoch_step += done
            self._loss_sum = loss_sum
            if bar is not None:
                bar.update(done % _BAR_EVERY)

    def _track_best(self, row: Mapping[str, Any]) -> None:
        stopping = self.early_stopping
        if stopping is None:
            return
        value = float(row[stopping.monitor])
        if self._best is None or stopping.improved(value, self._best["value"]):
            self._best = {"value": value, "row": dict(row), "bad_epochs": 0}
            if stopping.restore_best:
                self._best_arrays = self._snapshot()
            return
        self._best["bad_epochs"] += 1
        if self._best["bad_epochs"] >= stopping.patience:
            self.stopped_early = True

    def _finish(self) -> None:
        """At the end of the run: go back to the best epoch's weights if asked to."""
        stopping = self.early_stopping
        if stopping is None or not stopping.restore_best or self._best_arrays is None:
            return
        if self._best["row"]["iteration"] == self.iteration:
            return  # the last evaluation was the best one
        self._restore(self._best_arrays)
        self.final = dict(self._best["row"])

    def _snapshot(self) -> dict[str, np.ndarray]:
        arrays = {f"param/{k}": np.array(v) for k, v in self.model.params.items()}
        arrays.update({f"buffer/{k}": np.array(v) for k, v in self.model.buffers.items()})
        return arrays

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        params, buffers = self.model.params, self.model.buffers
        for key, value in arrays.items():
            kind, name = key.split("/", 1)
            np.copyto(params[name] if kind == "param" else buffers[name], value)

    # ----------------------------------------------------------------------------------------
    # State, checkpoints and resuming
    # ----------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The trainer's JSON-able state, as stored in checkpoints."""
        stopping = self.early_stopping
        return {
            "epoch": self.epoch,
            "iteration": self.iteration,
            "epoch_step": self._epoch_step,
            "epoch_loss_sum": self._loss_sum,
            "base_lr": self.base_lr,
            "stopped_early": self.stopped_early,
            "best": self._best,
            "final": self.final,
            "history": self.history,
            "settings": {
                "epochs": self.epochs,
                "iters": self.iters,
                "batch_size": self.batch_size,
                "eval_batch_size": self.eval_batch_size,
                "n_train": int(self.x_train.shape[0]),
                "schedule": self.schedule.config,
                "early_stopping": stopping.config if stopping is not None else None,
            },
        }

    def save(self, out_dir: str | os.PathLike[str] | None = None) -> Path | None:
        """Write ``model.safetensors`` and ``history.csv`` into ``out_dir`` (default: the trainer's)."""
        folder = self.out_dir if out_dir is None else Path(out_dir)
        if folder is None:
            return None
        folder.mkdir(parents=True, exist_ok=True)
        tensors: dict[str, np.ndarray] = {}
        if self._epoch_step and self._perm is not None:
            tensors["perm"] = self._perm  # mid-epoch: the rest of this epoch's order
        if self._best_arrays is not None:
            tensors.update({f"best/{k}": v for k, v in self._best_arrays.items()})
        path = save_checkpoint(
            folder / CHECKPOINT_NAME,
            self.model,
            self.optimizer,
            rng=self.rng,
            trainer_state=self.state(),
            trainer_tensors=tensors,
            info=self.info,
        )
        write_history_csv(folder / "history.csv", self.history)
        return path

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike[str],
        x_train: Any,
        t_train: Any,
        x_test: Any,
        t_test: Any,
        *,
        epochs: int | None = None,
        iters: int | None = None,
        out_dir: str | os.PathLike[str] | None = None,
        progress: bool = False,
        on_epoch_end: Callable[[Trainer, dict[str, Any]], Any] | None = None,
    ) -> Trainer:
        """A trainer that continues the run saved at ``path`` (a checkpoint or run folder) exactly.

        The data must be the run's. The run's length is the saved one unless ``epochs`` or
        ``iters`` gives a new total (counted from the start of the run, not from the resume).
        ``out_dir`` defaults to the checkpoint's folder. A run of 4 epochs and a run of 2
        epochs resumed to 4 end with identical parameters and history (except ``seconds``).
        """
        rng = np.random.default_rng()
        ckpt = load_checkpoint(path, rng=rng)
        state = ckpt.trainer_state
        if state is None or ckpt.optimizer is None or ckpt.rng_state is None:
            raise CheckpointError(f"{ckpt.path}: holds a model but no training state to resume (saved by hand?)")
        try:
            settings = state["settings"]
            if epochs is None and iters is None:
                epochs, iters = settings["epochs"], settings["iters"]
            es = settings["early_stopping"]
            trainer = cls(
                ckpt.model,
                ckpt.optimizer,
                x_train,
                t_train,
                x_test,
                t_test,
                epochs=epochs,
                iters=iters,
                batch_size=settings["batch_size"],
                rng=rng,
                schedule=LRSchedule(**settings["schedule"]),
                early_stopping=EarlyStopping(**es) if es is not None else None,
                eval_batch_size=settings["eval_batch_size"],
                out_dir=ckpt.path.parent if out_dir is None else out_dir,
                progress=progress,
                on_epoch_end=on_epoch_end,
                info=ckpt.info or None,
            )
            if trainer.x_train.shape[0] != settings["n_train"]:
                raise ValueError(
                    f"the run trained on {settings['n_train']} samples, the data given has {trainer.x_train.shape[0]}"
                )
            trainer._load_state(state, ckpt.trainer_tensors)
        except (KeyError, TypeError) as exc:
            raise CheckpointError(f"{ckpt.path}: the training state is incomplete or malformed: {exc!r}") from exc
        except ValueError as exc:
            raise CheckpointError(f"{ckpt.path}: cannot resume: {exc}") from exc
        return trainer

    def _load_state(self, state: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> None:
        self.epoch = int(state["epoch"])
        self.iteration = int(state["iteration"])
        self._epoch_step = int(state["epoch_step"])
        self._loss_sum = float(state["epoch_loss_sum"])
        self.base_lr = float(state["base_lr"])
        self.stopped_early = bool(state["stopped_early"])
        self._best = state["best"]
        self.final = state["final"]
        self.history = [dict(row) for row in state["history"]]
        if self._epoch_step:
            perm = tensors.get("perm")
            n = self.x_train.shape[0]
            if perm is None or perm.shape != (n,) or perm.dtype.kind not in "iu":
                raise ValueError(f"the checkpoint stopped mid-epoch but holds no valid permutation of {n} samples")
            self._perm = perm
        best = {k[len("best/") :]: v for k, v in tensors.items() if k.startswith("best/")}
        if best:
            expected = self._snapshot()
            for key, ref in expected.items():
                got = best.get(key)
                if got is None or got.shape != ref.shape or got.dtype != ref.dtype:
                    raise ValueError(f"the best-epoch copy of {key} is missing or does not match the model")
            self._best_arrays = {k: best[k] for k in expected}


# --------------------------------------------------------------------------------------------
# Run records: history.csv, curves.png, data set identity, versions
# --------------------------------------------------------------------------------------------


def write_history_csv(path: str | os.PathLike[str], history: Sequence[Mapping[str, Any]]) -> Path:
    """Write the history rows as CSV (columns :data:`HISTORY_FIELDS`, then any others), atomically."""
    fields = list(HISTORY_FIELDS)
    for row in history:
        fields.extend(k for k in row if k not in fields)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: row.get(k, "") for k in fields})
    return atomic_write(path, buf.getvalue().encode("utf-8"))


def plot_history(history: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Save the book's two training plots as one PNG: loss per epoch, and train/test accuracy.

    Uses matplotlib's Agg canvas directly (no pyplot, so no global backend is changed).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not history:
        raise ValueError("plot_history: the history is empty (no epoch finished)")
    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, [row["loss"] for row in history], marker="o", label="training mini-batches")
    if all("test_loss" in row for row in history):
        ax_loss.plot(epochs, [row["test_loss"] for row in history], marker="s", linestyle="--", label="test")
    ax_loss.set_xlabel("epochs")
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    ax_acc.plot(epochs, [row["train_acc"] for row in history], marker="o", label="train")
    ax_acc.plot(epochs, [row["test_acc"] for row in history], marker="s", linestyle="--", label="test")
    ax_acc.set_xlabel("epochs")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0, 1.0)
    ax_acc.legend(loc="lower right")
    if title:
        fig.suptitle(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return atomic_write(path, buf.getvalue())


def _sha256(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape};".encode())
        digest.update(memoryview(a).cast("B"))
    return digest.hexdigest()


def dataset_fingerprint(
    name: str, x_train: np.ndarray, t_train: np.ndarray, x_test: np.ndarray, t_test: np.ndarray
) -> dict[str, Any]:
    """Identity of a data set as trained on: name, sizes, shapes and SHA-256 of the arrays' bytes.

    Two loads of the same data in the same dtype give the same fingerprint; a resume checks it.
    """
    return {
        "name": name,
        "n_train": int(x_train.shape[0]),
        "n_test": int(x_test.shape[0]),
        "sample_shape": list(x_train.shape[1:]),
        "dtype": str(x_train.dtype),
        "train_sha256": _sha256(x_train, t_train),
        "test_sha256": _sha256(x_test, t_test),
    }


def library_versions() -> dict[str, str]:
    """Versions of chainrule, NumPy and Python (recorded in run.json)."""
    from chainrule import __version__

    return {"chainrule": __version__, "numpy": np.__version__, "python": platform.python_version()}
