"""``chainrule eval``: test accuracy and loss of a saved model."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.checkpoint import load_checkpoint
from chainrule.cli.options import UsageError, dataset_not_found, positive_int
from chainrule.datasets import DATASET_NAMES, DatasetNotFoundError, load_dataset
from chainrule.runs import recorded_dataset
from chainrule.train import DEFAULT_EVAL_BATCH, evaluate

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "eval",
        help="print the test accuracy and loss of a saved model",
        description=(
            "Evaluate a checkpoint (a .safetensors file or a run folder holding model.safetensors) on the "
            "test set of its data set (recorded in the checkpoint unless --dataset is given)."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="checkpoint file or run folder")
    p.add_argument("--dataset", choices=DATASET_NAMES, default=None, help="default: the one the model was trained on")
    p.add_argument(
        "--data-dir", metavar="DIR", default=None, help="folder holding the two test files (t10k-*-ubyte[.gz])"
    )
    p.add_argument(
        "--batch-size", type=positive_int, default=DEFAULT_EVAL_BATCH, metavar="B", help="rows evaluated at once"
    )
    output = p.add_mutually_exclusive_group()
    output.add_argument("--quiet", action="store_true", help="print only the test accuracy")
    output.add_argument("--json", action="store_true", help="print the result as one JSON document")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ckpt = load_checkpoint(args.model)
    model = ckpt.model
    name, recorded_dir = recorded_dataset(ckpt)
    if args.dataset is not None:
        if args.dataset != name:
            recorded_dir = None  # the recorded folder belongs to another data set
        name = args.dataset
    if name is None:
        raise UsageError(f"{ckpt.path} does not record its data set; pass --dataset")
    data_dir = args.data_dir
    if data_dir is None and recorded_dir is not None and Path(recorded_dir).is_dir():
        data_dir = recorded_dir
    dtype = np.asarray(next(iter(model.params.values()))).dtype
    images = len(model.input_shape) == 3  # a convolutional network takes (N, C, H, W)
    if images and name == "spiral":
        raise UsageError(f"the model takes images of shape {model.input_shape}; spiral holds 2-D points")
    try:
        x_test, t_test = load_dataset(  # the test split only: a folder of the two t10k files will do
            name,
            split="test",
            dtype=dtype,
            data_dir=data_dir if name != "spiral" else None,
            progress=sys.stderr.isatty(),
            **({"flatten": False} if images else {}),
        )
    except DatasetNotFoundError as exc:
        raise dataset_not_found(exc) from None  # the model's own data set: no other is offered
    if images and x_test.shape[1:] != model.input_shape:
        raise UsageError(
            f"the model takes images of shape {model.input_shape} but {name} has {x_test.shape[1:]}; "
            "pass the right --dataset"
        )
    expected = int(np.prod(model.input_shape))
    got = int(np.prod(x_test.shape[1:]))
    if expected != got:
        raise UsageError(f"the model takes {expected} inputs per sample but {name} has {got}; pass the right --dataset")
    n_out = model.config.get("output_size")
    if n_out is not None and int(t_test.max()) >= n_out:
        raise UsageError(f"{name} has labels up to {int(t_test.max())} but the model has {n_out} outputs")
    loss, acc = evaluate(model, x_test, t_test, batch_size=args.batch_size)
    if args.json:
        doc = {"model": str(ckpt.path), "dataset": name, "samples": len(x_test), "accuracy": acc, "loss": loss}
        print(json.dumps(doc, indent=2))
    elif args.quiet:
        print(f"{acc:.4f}")
    else:
        print(f"test accuracy {acc:.4f} (test loss {loss:.4f}) on {len(x_test)} {name} test samples; model {ckpt.path}")
    return 0
