"""``chainrule train``: train a network, print one line per epoch, save the run to a folder.

The defaults reproduce the book's chapter 5 training (``train_neuralnet.py``): TwoLayerNet
784-50-10 with weight_init_std 0.01, SGD with lr 0.1, batches of 100, 10,000 iterations on
MNIST, here in float32 and over true (reshuffled) epochs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.checkpoint import CHECKPOINT_NAME, write_json
from chainrule.cli import UsageError
from chainrule.datasets import CLASS_NAMES, DATASET_NAMES, load_dataset
from chainrule.models import build_model
from chainrule.optim import OPTIMIZERS, make_optimizer
from chainrule.train import (
    MONITORS,
    SCHEDULES,
    EarlyStopping,
    LRSchedule,
    Trainer,
    dataset_fingerprint,
    library_versions,
    plot_history,
)

__all__ = ["register", "run", "load_data", "positive_int", "positive_float", "non_negative_float"]

MODEL_NAMES = ("two-layer", "mlp")
ACTIVATIONS = ("relu", "sigmoid", "tanh")
DTYPES = ("float32", "float64")
RUN_FILE = "run.json"

# Settings a run is defined by; run.json stores them and --resume reads them back.
DEFAULTS: dict[str, Any] = {
    "dataset": "mnist",
    "data_dir": None,
    "model": "two-layer",
    "hidden": None,  # two-layer: [50]; mlp: [100, 100]
    "activation": "relu",
    "weight_init": None,  # two-layer: 0.01 (the book's); mlp: "he" for relu, "xavier" otherwise
    "batch_norm": False,
    "dropout": 0.0,
    "weight_decay": 0.0,
    "optimizer": "sgd",
    "lr": None,  # sgd: 0.1 (the book's ch05); others: the optimizer's own default
    "batch_size": 100,
    "epochs": None,
    "iters": None,  # neither given: 10,000 iterations
    "schedule": "none",
    "step_size": 10,
    "gamma": 0.1,
    "min_lr": 0.0,
    "early_stopping": None,
    "monitor": "test_loss",
    "seed": 0,
    "dtype": "float32",
}
# What --resume may change; every other setting is the run's own.
_RESUME_OVERRIDES = ("epochs", "iters", "data_dir")


# --------------------------------------------------------------------------------------------
# Option types shared by the subcommands
# --------------------------------------------------------------------------------------------


def _int_at_least(minimum: int, expected: str):
    """An argparse type: an integer >= ``minimum``, else a one-line error saying ``expected``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


positive_int = _int_at_least(1, "a positive integer")
non_negative_int = _int_at_least(0, "an integer >= 0")


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def probability(text: str) -> float:
    value = _float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def weight_init(text: str) -> str | float:
    key = text.strip().lower()
    if key in ("he", "xavier"):
        return key
    try:
        return positive_float(text)
    except argparse.ArgumentTypeError:
        msg = f"expected 'he', 'xavier' or a positive std such as 0.01, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a network and save the run (history, curves, checkpoint)",
        description=(
            "Train a network over true epochs, printing one line per epoch and writing history.csv, "
            "curves.png, model.safetensors and run.json to --out. Defaults reproduce the book's "
            "chapter 5 training: TwoLayerNet 784-50-10, SGD lr 0.1, batches of 100, 10,000 iterations, MNIST."
        ),
    )
    # Every default is None here so that --resume can tell what was typed; DEFAULTS fills in.
    data = p.add_argument_group("data")
    data.add_argument("--dataset", choices=DATASET_NAMES, default=None, help="data set (default: mnist)")
    data.add_argument("--data-dir", metavar="DIR", default=None, help="folder holding the four IDX files")
    net = p.add_argument_group("network")
    net.add_argument("--model", choices=MODEL_NAMES, default=None, help="two-layer (the book's) or mlp")
    net.add_argument(
        "--hidden",
        type=positive_int,
        nargs="+",
        metavar="SIZE",
        default=None,
        help="hidden layer size(s): one for two-layer (default 50), several for mlp (default 100 100)",
    )
    net.add_argument("--activation", choices=ACTIVATIONS, default=None, help="mlp activation (default: relu)")
    net.add_argument(
        "--weight-init",
        type=weight_init,
        metavar="INIT",
        default=None,
        help="he, xavier or a std (default: 0.01 for two-layer; he for relu mlp, xavier otherwise)",
    )
    net.add_argument("--batch-norm", action="store_true", default=None, help="mlp: batch normalisation")
    net.add_argument("--dropout", type=probability, metavar="P", default=None, help="mlp: dropout ratio in [0, 1)")
    net.add_argument("--weight-decay", type=non_negative_float, metavar="L", default=None, help="mlp: L2 strength")
    net.add_argument("--dtype", choices=DTYPES, default=None, help="float type of data and network (default: float32)")
    opt = p.add_argument_group("optimisation")
    opt.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default=None, help="default: sgd")
    opt.add_argument(
        "--lr", type=positive_float, default=None, help="learning rate (default: 0.1 for sgd, else the optimizer's)"
    )
    opt.add_argument("--batch-size", type=positive_int, metavar="B", default=None, help="default: 100")
    length = opt.add_mutually_exclusive_group()
    length.add_argument("--iters", type=positive_int, metavar="N", default=None, help="training steps (default 10000)")
    length.add_argument("--epochs", type=positive_int, metavar="N", default=None, help="full passes over the data")
    opt.add_argument("--schedule", choices=SCHEDULES, default=None, help="learning-rate schedule (default: none)")
    opt.add_argument(
        "--step-size", type=positive_int, metavar="EPOCHS", default=None, help="step schedule period (default 10)"
    )
    opt.add_argument("--gamma", type=positive_float, default=None, help="step schedule factor (default 0.1)")
    opt.add_argument("--min-lr", type=non_negative_float, default=None, help="cosine schedule floor (default 0)")
    opt.add_argument(
        "--early-stopping",
        type=positive_int,
        metavar="PATIENCE",
        default=None,
        help="stop after PATIENCE epochs without improvement and keep the best epoch",
    )
    opt.add_argument("--monitor", choices=MONITORS, default=None, help="early stopping watches this (test_loss)")
    opt.add_argument("--seed", type=non_negative_int, default=None, help="one seed for init, shuffling, dropout")
    out = p.add_argument_group("output")
    out.add_argument("--out", metavar="DIR", default=None, help="run folder (default: runs/<YYYYmmdd-HHMMSS>)")
    out.add_argument("--resume", metavar="DIR", default=None, help="continue the run in DIR exactly")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------


def _given(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in DEFAULTS if getattr(args, k, None) is not None}


def resolve_settings(given: dict[str, Any]) -> dict[str, Any]:
    """Fill in defaults and check that the settings fit together (UsageError otherwise)."""
    s = {**DEFAULTS, **given}
    if s["epochs"] is None and s["iters"] is None:
        s["iters"] = 10_000
    if s["model"] == "two-layer":
        s["hidden"] = s["hidden"] or [50]
        if len(s["hidden"]) != 1:
            raise UsageError(f"--model two-layer takes one --hidden size, got {len(s['hidden'])}; use --model mlp")
        extras = [
            opt
            for opt, used in (
                ("--activation", s["activation"] != "relu"),
                ("--batch-norm", s["batch_norm"]),
                ("--dropout", s["dropout"] > 0),
                ("--weight-decay", s["weight_decay"] > 0),
            )
            if used
        ]
        if extras:
            raise UsageError(f"{', '.join(extras)} need --model mlp (two-layer is the book's Affine-ReLU-Affine)")
        if s["weight_init"] is None:
            s["weight_init"] = 0.01
    else:
        s["hidden"] = s["hidden"] or [100, 100]
        if s["weight_init"] is None:
            s["weight_init"] = "he" if s["activation"] == "relu" else "xavier"
    s["hidden"] = [int(h) for h in s["hidden"]]
    if s["lr"] is None:
        s["lr"] = 0.1 if s["optimizer"] == "sgd" else float(OPTIMIZERS[s["optimizer"]]().lr)
    if s["schedule"] == "cosine" and s["min_lr"] >= s["lr"]:
        raise UsageError(f"--min-lr ({s['min_lr']:g}) must be below --lr ({s['lr']:g})")
    if s["data_dir"] is not None:
        if s["dataset"] == "spiral":
            raise UsageError("--data-dir applies to mnist and fashion-mnist; spiral is generated")
        s["data_dir"] = str(Path(s["data_dir"]).expanduser().resolve())  # eval may run from elsewhere
    return s


def load_data(name: str, data_dir: str | None, dtype: Any) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """``(x_train, t_train), (x_test, t_test)`` of a named data set in ``dtype``."""
    if name == "spiral":
        if data_dir is not None:
            raise UsageError("--data-dir applies to mnist and fashion-mnist; spiral is generated")
        return load_dataset(name, dtype=dtype)
    return load_dataset(name, dtype=dtype, data_dir=data_dir)


def n_classes_of(name: str, t_train: np.ndarray, t_test: np.ndarray) -> int:
    return max(len(CLASS_NAMES.get(name, ())), int(max(t_train.max(), t_test.max())) + 1)


def model_config(s: dict[str, Any], input_size: int, n_classes: int) -> dict[str, Any]:
    if s["model"] == "two-layer":
        return {
            "model": "two-layer",
            "input_size": input_size,
            "hidden_size": s["hidden"][0],
            "output_size": n_classes,
            "weight_init_std": s["weight_init"],
            "dtype": s["dtype"],
        }
    return {
        "model": "mlp",
        "input_size": input_size,
        "hidden_sizes": list(s["hidden"]),
        "output_size": n_classes,
        "activation": s["activation"],
        "weight_init": s["weight_init"],
        "batch_norm": bool(s["batch_norm"]),
        "dropout": float(s["dropout"]),
        "weight_decay": float(s["weight_decay"]),
        "dtype": s["dtype"],
    }


def _new_out_dir(out: str | None) -> Path:
    if out is not None:
        path = Path(out).expanduser()
        if (path / CHECKPOINT_NAME).exists() or (path / RUN_FILE).exists():
            raise UsageError(f"{path} already holds a run; continue it with --resume {path} or choose another --out")
        if path.exists() and not path.is_dir():
            raise UsageError(f"--out {path} exists and is not a folder")
        return path
    base = Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    path, k = base, 1
    while path.exists():
        path, k = base.with_name(f"{base.name}-{k}"), k + 1
    return path


def _read_run(folder: Path) -> dict[str, Any]:
    path = folder / RUN_FILE
    if not folder.is_dir():
        raise UsageError(f"--resume {folder}: no such run folder")
    try:
        run_info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"--resume {folder}: no {RUN_FILE} there (is it a chainrule run folder?)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"--resume {folder}: cannot read {RUN_FILE}: {exc}") from exc
    if not isinstance(run_info, dict) or not isinstance(run_info.get("settings"), dict):
        raise UsageError(f"--resume {folder}: {RUN_FILE} has no 'settings'")
    return run_info


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def _epoch_line(trainer: Trainer, row: dict[str, Any]) -> str:
    total = math.ceil(trainer.total_iters / trainer.iters_per_epoch)
    return (
        f"epoch {row['epoch']:>{len(str(total))}g}/{total}  iter {row['iteration']:>{len(str(trainer.total_iters))}}  "
        f"loss {row['loss']:.4f}  train acc {row['train_acc']:.4f}  test acc {row['test_acc']:.4f}  "
        f"{row['seconds']:.1f}s"
    )


def run(args: argparse.Namespace) -> int:
    given = _given(args)
    if args.resume is not None:
        if args.out is not None:
            raise UsageError("--resume continues the run in its own folder; leave out --out")
        out_dir = Path(args.resume).expanduser()
        run_info = _read_run(out_dir)
        fixed = [k for k in given if k not in _RESUME_OVERRIDES and given[k] != run_info["settings"].get(k)]
        if fixed:
            names = ", ".join("--" + k.replace("_", "-") for k in fixed)
            raise UsageError(f"{names} cannot change when resuming (the run's settings are in {out_dir / RUN_FILE})")
        settings = dict(run_info["settings"])
        if "epochs" in given or "iters" in given:
            settings["epochs"], settings["iters"] = given.get("epochs"), given.get("iters")
        if "data_dir" in given:
            settings["data_dir"] = given["data_dir"]
    else:
        settings = resolve_settings(given)
        out_dir = _new_out_dir(args.out)
        run_info = None

    (x_train, t_train), (x_test, t_test) = load_data(settings["dataset"], settings["data_dir"], settings["dtype"])
    fingerprint = dataset_fingerprint(settings["dataset"], x_train, t_train, x_test, t_test)
    progress = not args.no_progress
    printer = _EpochPrinter(progress)
    info = {"dataset": settings["dataset"], "data_dir": settings["data_dir"]}

    if run_info is not None:
        recorded = run_info.get("dataset", {})
        if (recorded.get("train_sha256"), recorded.get("test_sha256")) != (
            fingerprint["train_sha256"],
            fingerprint["test_sha256"],
        ):
            raise UsageError(
                f"--resume {out_dir}: the {settings['dataset']} data differ from the run's (SHA-256 mismatch); "
                "an exact resume needs the same data"
            )
        trainer = Trainer.from_checkpoint(
            out_dir,
            x_train,
            t_train,
            x_test,
            t_test,
            epochs=settings["epochs"],
            iters=settings["iters"],
            progress=progress,
            on_epoch_end=printer,
        )
        trainer.info = info
        run_info["settings"] = settings
        run_info.setdefault("resumed", []).append(
            {"at": time.strftime("%Y-%m-%dT%H:%M:%S"), "epoch": trainer.epoch, "iteration": trainer.iteration}
        )
        if trainer.done:
            print(f"the run in {out_dir} has already reached its end (iteration {trainer.iteration})", file=sys.stderr)
    else:
        input_size = int(np.prod(x_train.shape[1:]))
        config = model_config(settings, input_size, n_classes_of(settings["dataset"], t_train, t_test))
        rng = np.random.default_rng(settings["seed"])
        model = build_model(config, seed=rng)
        optimizer = make_optimizer(settings["optimizer"], lr=settings["lr"])
        trainer = Trainer(
            model,
            optimizer,
            x_train,
            t_train,
            x_test,
            t_test,
            epochs=settings["epochs"],
            iters=settings["iters"],
            batch_size=settings["batch_size"],
            rng=rng,
            schedule=LRSchedule(settings["schedule"], settings["step_size"], settings["gamma"], settings["min_lr"]),
            early_stopping=(
                EarlyStopping(settings["early_stopping"], settings["monitor"])
                if settings["early_stopping"] is not None
                else None
            ),
            out_dir=out_dir,
            progress=progress,
            on_epoch_end=printer,
            info=info,
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        run_info = {
            "command": "chainrule train",
            "argv": sys.argv[1:],
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "settings": settings,
            "seed": settings["seed"],
            "dataset": fingerprint,
            "model": model.config,
            "optimizer": optimizer.config,
            "versions": library_versions(),
        }
    write_json(out_dir / RUN_FILE, run_info)

    try:
        # Overflow on the way to a NaN loss is reported once, by TrainingDiverged, not as warnings.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            trainer.fit()
    except KeyboardInterrupt:
        last = trainer.history[-1] if trainer.history else None
        where = (
            f"the checkpoint of epoch {last['epoch']:g} (iteration {last['iteration']}) is in {out_dir}; "
            f"continue with: chainrule train --resume {out_dir}"
            if last is not None
            else f"no epoch had finished, so no checkpoint was written in {out_dir}"
        )
        print(f"chainrule train: interrupted at iteration {trainer.iteration}; {where}", file=sys.stderr)
        return 130

    final = trainer.final
    if final is None:  # a resumed run that had nothing left to do and no history
        raise UsageError(f"{out_dir}: the run has no completed epoch to report")
    run_info["result"] = {
        "final": final,
        "epochs_completed": trainer.epoch,
        "iterations": trainer.iteration,
        "stopped_early": trainer.stopped_early,
        "seconds": round(sum(row["seconds"] for row in trainer.history), 3),
    }
    write_json(out_dir / RUN_FILE, run_info)
    plot_history(trainer.history, out_dir / "curves.png", title=f"{settings['dataset']}, {settings['model']}")
    if trainer.stopped_early:
        monitor = trainer.early_stopping.monitor.replace("_", " ")
        restored = f"; kept epoch {final['epoch']:g}" if trainer.early_stopping.restore_best else ""
        patience = trainer.early_stopping.patience
        print(f"early stopping: {monitor} did not improve for {patience} epoch{'s' * (patience != 1)}{restored}")
    print(
        f"final test accuracy {final['test_acc']:.4f} (test loss {final['test_loss']:.4f}, "
        f"epoch {final['epoch']:g}, iteration {final['iteration']}); saved in {out_dir}"
    )
    return 0


class _EpochPrinter:
    """The CLI's ``on_epoch_end``: one line per epoch on stdout, written around the progress bar."""

    def __init__(self, progress: bool) -> None:
        self.progress = progress

    def __call__(self, trainer: Trainer, row: dict[str, Any]) -> None:
        line = _epoch_line(trainer, row)
        if self.progress:
            from tqdm import tqdm

            tqdm.write(line, file=sys.stdout)
        else:
            print(line)
        sys.stdout.flush()
