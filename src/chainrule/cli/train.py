"""``chainrule train``: train a network, print one line per epoch, save the run to a folder.

The defaults reproduce the book's chapter 5 training (``train_neuralnet.py``): TwoLayerNet
784-50-10 with weight_init_std 0.01, SGD with lr 0.1, batches of 100, 10,000 iterations on
MNIST, here in float32 and over true (reshuffled) epochs. The run folder is library code
(:mod:`chainrule.runs`); this module parses the options, shows progress and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from chainrule._checks import AllocationTooLarge
from chainrule.cli.options import (
    UsageError,
    dataset_not_found,
    folder,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
    too_large,
    weight_init,
)
from chainrule.datasets import DATASET_NAMES, DatasetNotFoundError
from chainrule.models import ACTIVATIONS, DTYPE_NAMES, MODEL_NAMES
from chainrule.optim import OPTIMIZERS
from chainrule.runs import CONV_MODELS, DEFAULT_SETTINGS, resume_run, start_run
from chainrule.threads import TRAINING_THREADS
from chainrule.train import MONITORS, SCHEDULES, TrainingDiverged

__all__ = ["register", "run"]


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
    # Every default is None here so that --resume can tell what was typed; DEFAULT_SETTINGS fills in.
    data = p.add_argument_group("data")
    data.add_argument("--dataset", choices=DATASET_NAMES, default=None, help="data set (default: mnist)")
    data.add_argument("--data-dir", metavar="DIR", type=folder, default=None, help="folder holding the four IDX files")
    net = p.add_argument_group("network")
    net.add_argument(
        "--model",
        choices=MODEL_NAMES,
        default=None,
        help="two-layer (the book's ch05), mlp (ch06), convnet (ch07 SimpleConvNet) or deep-convnet (ch08)",
    )
    net.add_argument(
        "--hidden",
        type=positive_int,
        nargs="+",
        metavar="SIZE",
        default=None,
        help="hidden layer size(s): one for two-layer (default 50), convnet (100) and deep-convnet (50), "
        "several for mlp (default 100 100)",
    )
    net.add_argument("--activation", choices=tuple(ACTIVATIONS), default=None, help="mlp activation (default: relu)")
    net.add_argument(
        "--weight-init",
        type=weight_init,
        metavar="INIT",
        default=None,
        help="he, xavier or a std (default: 0.01 for two-layer; he for relu mlp, xavier otherwise)",
    )
    net.add_argument("--batch-norm", action="store_true", default=None, help="mlp: batch normalisation")
    net.add_argument(
        "--dropout",
        type=probability,
        metavar="P",
        default=None,
        help="mlp, deep-convnet: dropout ratio in [0, 1) (default 0; deep-convnet 0.5)",
    )
    net.add_argument(
        "--filters",
        type=positive_int,
        nargs="+",
        metavar="N",
        default=None,
        help="convolution filters: one number for convnet (default 30, 5x5), six for deep-convnet "
        "(default 16 16 32 32 64 64, 3x3)",
    )
    net.add_argument("--weight-decay", type=non_negative_float, metavar="L", default=None, help="mlp: L2 strength")
    net.add_argument(
        "--dtype", choices=DTYPE_NAMES, default=None, help="float type of data and network (default: float32)"
    )
    opt = p.add_argument_group("optimisation")
    opt.add_argument(
        "--optimizer", choices=tuple(OPTIMIZERS), default=None, help="default: sgd; adam for convnet and deep-convnet"
    )
    opt.add_argument(
        "--lr", type=positive_float, default=None, help="learning rate (default: 0.1 for sgd, else the optimizer's)"
    )
    opt.add_argument("--batch-size", type=positive_int, metavar="B", default=None, help="default: 100")
    length = opt.add_mutually_exclusive_group()
    length.add_argument(
        "--iters",
        type=positive_int,
        metavar="N",
        default=None,
        help="training steps (default 10000; convnets: 20 epochs)",
    )
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
    out.add_argument(
        "--out", metavar="DIR", type=folder, default=None, help="run folder (default: runs/<YYYYmmdd-HHMMSS>)"
    )
    out.add_argument("--resume", metavar="DIR", type=folder, default=None, help="continue the run in DIR exactly")
    out.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        default=None,
        help=f"BLAS threads of the training steps (default: {TRAINING_THREADS}, or with --resume the run's own; "
        "an OPENBLAS_NUM_THREADS or OMP_NUM_THREADS set in the environment is kept)",
    )
    shown = out.add_mutually_exclusive_group()
    shown.add_argument("--no-progress", action="store_true", help="no progress bar (the epoch lines stay)")
    shown.add_argument("--quiet", action="store_true", help="print only the final line")
    shown.add_argument("--json", action="store_true", help="print only the result, as one JSON document")
    p.set_defaults(func=run)


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the user typed (every option's default is None)."""
    return {k: getattr(args, k) for k in DEFAULT_SETTINGS if getattr(args, k, None) is not None}


def _other_datasets(failed: str, given: dict[str, Any]) -> list[str]:
    """The data sets a run of these settings could use instead of ``failed``: images for the
    convolutional networks, any for the others."""
    model = given.get("model", DEFAULT_SETTINGS["model"])
    return [name for name in DATASET_NAMES if name != failed and not (name == "spiral" and model in CONV_MODELS)]


def run(args: argparse.Namespace) -> int:
    given = _given(args)
    # Keras' verbose: 1 a bar (where someone watches) and a line per epoch, 2 the lines, 0 neither.
    verbose = 0 if args.quiet or args.json else 2 if args.no_progress else 1
    data_progress = verbose == 1 and sys.stderr.isatty()  # a download bar only where someone watches
    if args.resume is not None:
        if args.out is not None:
            raise UsageError("--resume continues the run in its own folder; leave out --out")
        try:
            run_ = resume_run(args.resume, given, data_progress=data_progress, threads=args.threads)
        except DatasetNotFoundError as exc:
            raise dataset_not_found(exc) from None  # a run keeps its data set: only the folder can change
        if run_.fresh:
            print(
                f"chainrule train: {run_.folder} holds no checkpoint yet (its run stopped before the first epoch "
                "ended); starting it afresh with its recorded settings",
                file=sys.stderr,
            )
        elif run_.trainer.done:
            print(
                f"the run in {run_.folder} has already reached its end (iteration {run_.trainer.iteration})",
                file=sys.stderr,
            )
    else:
        try:
            run_ = start_run(given, out=args.out, argv=sys.argv[1:], data_progress=data_progress, threads=args.threads)
        except DatasetNotFoundError as exc:
            raise dataset_not_found(exc, switch_to=_other_datasets(exc.dataset, given)) from None
        except AllocationTooLarge as exc:  # refused before allocating: say which options made it
            raise too_large(exc, {k: given.get(k) for k in ("hidden", "filters", "batch_size")}) from None
    trainer, out_dir = run_.trainer, run_.folder

    try:
        final = run_.fit(verbose)
    except KeyboardInterrupt:
        last = trainer.history[-1] if trainer.history else None
        where = (
            f"the checkpoint of epoch {last['epoch']:g} (iteration {last['iteration']}) is in {out_dir}; "
            f"continue with: chainrule train --resume {out_dir}"
            if last is not None
            else f"no epoch had finished, so no checkpoint was written in {out_dir}; "
            f"start it again with: chainrule train --resume {out_dir}"
        )
        print(f"chainrule train: interrupted at iteration {trainer.iteration}; {where}", file=sys.stderr)
        return 130
    except TrainingDiverged as exc:  # the library's advice, in the command line's words
        raise UsageError(f"{exc.detail}; try a lower learning rate than --lr {trainer.base_lr:g}") from None

    if args.json:
        print(json.dumps({"folder": str(out_dir), **run_.record["result"]}, indent=2))
        return 0
    if trainer.stopped_early and not args.quiet:
        monitor = trainer.early_stopping.monitor.replace("_", " ")
        restored = f"; kept epoch {final['epoch']:g}" if trainer.early_stopping.restore_best else ""
        patience = trainer.early_stopping.patience
        print(f"early stopping: {monitor} did not improve for {patience} epoch{'s' * (patience != 1)}{restored}")
    print(
        f"final test accuracy {final['test_acc']:.4f} (test loss {final['test_loss']:.4f}, "
        f"epoch {final['epoch']:g}, iteration {final['iteration']}); saved in {out_dir}"
    )
    return 0
