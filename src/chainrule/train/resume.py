"""A Trainer's state in a checkpoint, and resuming a run from it exactly.

What a checkpoint holds for the trainer (besides the model, the optimizer and the generator's
state, see :mod:`chainrule.checkpoint`): the JSON ``trainer`` state (epoch, iteration, the
position inside the current epoch and its loss sum, the base learning rate, the best epoch so
far, the history and the settings) and the ``trainer/`` tensors (the rest of the current
epoch's permutation when it stopped mid-epoch, and the best epoch's arrays).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule._checks import is_int, is_real
from chainrule.checkpoint import CHECKPOINT_NAME, CheckpointError, load_checkpoint, save_checkpoint
from chainrule.train.history import History, write_history_csv
from chainrule.train.schedule import LRSchedule
from chainrule.train.stopping import EarlyStopping, snapshot

__all__ = ["resume_training", "save_training", "training_state"]


def training_state(trainer: Any) -> dict[str, Any]:
    """The trainer's JSON-able state, as stored in checkpoints."""
    stopping = trainer.early_stopping
    return {
        "epoch": trainer.epoch,
        "iteration": trainer.iteration,
        "epoch_step": trainer._epoch_step,
        "epoch_loss_sum": trainer._loss_sum,
        "base_lr": trainer.base_lr,
        "stopped_early": trainer.stopped_early,
        "best": trainer.best.state if trainer.best is not None else None,
        "final": trainer.final,
        "history": trainer.history,
        "settings": {
            "epochs": trainer.epochs,
            "iters": trainer.iters,
            "batch_size": trainer.batch_size,
            "eval_batch_size": trainer.eval_batch_size,
            "n_train": int(trainer.x_train.shape[0]),
            "schedule": trainer.schedule.config,
            "early_stopping": stopping.config if stopping is not None else None,
        },
    }


def save_training(trainer: Any, folder: Path) -> Path:
    """Write ``model.safetensors`` (model, optimizer, generator, trainer state) and ``history.csv`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, np.ndarray] = {}
    if trainer._epoch_step and trainer._perm is not None:
        tensors["perm"] = trainer._perm  # mid-epoch: the rest of this epoch's order
    if trainer.best is not None and trainer.best.arrays is not None:
        tensors.update({f"best/{k}": v for k, v in trainer.best.arrays.items()})
    path = save_checkpoint(
        folder / CHECKPOINT_NAME,
        trainer.model,
        trainer.optimizer,
        rng=trainer.rng,
        trainer_state=training_state(trainer),
        trainer_tensors=tensors,
        info=trainer.info,
    )
    write_history_csv(folder / "history.csv", trainer.history)
    return path


def resume_training(
    cls: type,
    path: str | os.PathLike[str],
    data: tuple[Any, Any, Any, Any],
    *,
    epochs: int | None,
    iters: int | None,
    out_dir: str | os.PathLike[str] | None,
    callbacks: Sequence[Any],
    progress: bool,
    on_epoch_end: Callable[..., Any] | None,
) -> Any:
    """A ``cls`` (Trainer) continuing the run saved at ``path`` on ``data`` = (x_train, t_train, x_test, t_test).

    See :meth:`chainrule.train.Trainer.from_checkpoint`.
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
            *data,
            epochs=epochs,
            iters=iters,
            batch_size=settings["batch_size"],
            rng=rng,
            schedule=LRSchedule(**settings["schedule"]),
            early_stopping=EarlyStopping(**es) if es is not None else None,
            eval_batch_size=settings["eval_batch_size"],
            out_dir=ckpt.path.parent if out_dir is None else out_dir,
            callbacks=callbacks,
            progress=progress,
            on_epoch_end=on_epoch_end,
            info=ckpt.info or None,
        )
        if trainer.x_train.shape[0] != settings["n_train"]:
            raise ValueError(
                f"the run trained on {settings['n_train']} samples, the data given has {trainer.x_train.shape[0]}"
            )
        _load_state(trainer, state, ckpt.trainer_tensors)
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{ckpt.path}: the training state is incomplete or malformed: {exc!r}") from exc
    except ValueError as exc:
        raise CheckpointError(f"{ckpt.path}: cannot resume: {exc}") from exc
    return trainer


def _load_state(trainer: Any, state: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> None:
    """Set ``trainer``'s counters, history and best epoch from a checkpoint's state, each checked
    first (ValueError naming the entry): a resume never starts from an impossible position."""
    if not isinstance(state, Mapping):
        raise ValueError(f"the training state must be a JSON object, got {_short(state)}")
    per_epoch = trainer.iters_per_epoch
    epoch = _count(state, "epoch")
    iteration = _count(state, "iteration")
    epoch_step = _count(state, "epoch_step")
    if epoch_step >= per_epoch:
        raise ValueError(f"epoch_step must be below the {per_epoch} steps of an epoch, got {epoch_step}")
    if iteration != epoch * per_epoch + epoch_step:
        raise ValueError(
            f"iteration {iteration} does not match epoch {epoch} and epoch_step {epoch_step} "
            f"({per_epoch} steps per epoch make {epoch * per_epoch + epoch_step})"
        )
    loss_sum = state["epoch_loss_sum"]
    if not (is_real(loss_sum) and 0 <= loss_sum < math.inf):  # a sum of cross-entropies
        raise ValueError(f"epoch_loss_sum must be a finite number >= 0, got {_short(loss_sum)}")
    base_lr = state["base_lr"]
    if not (is_real(base_lr) and 0 < base_lr < math.inf):
        raise ValueError(f"base_lr must be a positive number, got {_short(base_lr)}")
    stopped_early = state["stopped_early"]
    if not isinstance(stopped_early, bool):
        raise ValueError(f"stopped_early must be true or false, got {_short(stopped_early)}")
    history = state["history"]
    if not isinstance(history, list):
        raise ValueError(f"history must be a list of rows, got {_short(history)}")
    rows = [_row(row, f"history row {i}") for i, row in enumerate(history)]
    final = None if state["final"] is None else _row(state["final"], "final")
    best_state = state["best"]
    if trainer.best is not None and best_state is not None:
        if not isinstance(best_state, Mapping) or set(best_state) != {"value", "row", "bad_epochs"}:
            raise ValueError(f"best must be an object with value, row and bad_epochs, got {_short(best_state)}")
        if not is_real(best_state["value"]) or math.isnan(best_state["value"]):
            raise ValueError(f"best value must be a number, got {_short(best_state['value'])}")
        best_state = {
            "value": float(best_state["value"]),
            "row": _row(best_state["row"], "best row"),
            "bad_epochs": _count(best_state, "bad_epochs"),
        }
    perm = None
    if epoch_step:
        perm = tensors.get("perm")
        n = trainer.x_train.shape[0]
        if perm is None or perm.shape != (n,) or perm.dtype.kind not in "iu":
            raise ValueError(f"the checkpoint stopped mid-epoch but holds no valid permutation of {n} samples")
        # Each index 0 … n-1 exactly once (an all -1 "permutation" would train on one sample).
        if perm.min() < 0 or perm.max() >= n or np.count_nonzero(np.bincount(perm, minlength=n)) != n:
            raise ValueError(f"the saved order of this epoch is not a permutation of the {n} training samples")

    trainer.epoch, trainer.iteration, trainer._epoch_step = epoch, iteration, epoch_step
    trainer._loss_sum = float(loss_sum)
    trainer.base_lr = float(base_lr)
    trainer.stopped_early = stopped_early
    if trainer.best is not None:
        trainer.best.state = best_state
    trainer.final = final
    trainer.history = History(rows)
    if perm is not None:
        trainer._perm = perm
    best = {k[len("best/") :]: v for k, v in tensors.items() if k.startswith("best/")}
    if best and trainer.best is not None:
        expected = snapshot(trainer.model)
        for key, ref in expected.items():
            got = best.get(key)
            if got is None or got.shape != ref.shape or got.dtype != ref.dtype:
                raise ValueError(f"the best-epoch copy of {key} is missing or does not match the model")
        trainer.best.arrays = {k: best[k] for k in expected}


def _short(value: Any) -> str:
    """``repr(value)``, cut to a length a one-line message can hold."""
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _count(state: Mapping[str, Any], key: str) -> int:
    value = state[key]
    if not is_int(value) or value < 0:
        raise ValueError(f"{key} must be an integer >= 0, got {_short(value)}")
    return int(value)


def _row(row: Any, what: str) -> dict[str, Any]:
    """A history row: an object of numbers with at least the epoch and iteration."""
    if not isinstance(row, Mapping) or "epoch" not in row or "iteration" not in row:
        raise ValueError(f"{what} must be an object with epoch, iteration and the metrics, got {_short(row)}")
    for key, value in row.items():
        if not is_real(value):
            raise ValueError(f"{what}: {key} must be a number, got {_short(value)}")
    return dict(row)
