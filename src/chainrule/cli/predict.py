"""``chainrule predict``: classify image files with a saved MNIST-style model."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from chainrule.checkpoint import load_checkpoint
from chainrule.cli.options import UsageError, positive_int
from chainrule.datasets import CLASS_NAMES
from chainrule.functions import softmax
from chainrule.images import SIZE, load_image
from chainrule.runs import recorded_dataset

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "predict",
        help="classify PNG/JPEG images with a saved model",
        description=(
            "Classify images (any size or colour; converted like MNIST: grayscale, white strokes on black, "
            "fitted into 20x20 and centred by mass in 28x28) and print the top classes with probabilities."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="checkpoint file or run folder")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="image files")
    p.add_argument("--top", type=positive_int, default=3, metavar="K", help="classes shown per image (default 3)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ckpt = load_checkpoint(args.model)
    model = ckpt.model
    n_inputs = int(np.prod(model.input_shape))
    if n_inputs != SIZE * SIZE:
        raise UsageError(
            f"{ckpt.path}: the model takes {n_inputs} inputs; predict needs a {SIZE}x{SIZE} image model "
            "(trained on mnist or fashion-mnist)"
        )
    n_classes = int(model.config.get("output_size", 0))
    name, _ = recorded_dataset(ckpt)
    names = CLASS_NAMES.get(name or "", ())
    if len(names) != n_classes:
        names = tuple(str(i) for i in range(n_classes))
    batch = np.stack([load_image(path).reshape(model.input_shape) for path in args.images])
    probs = softmax(np.asarray(model.predict(batch), dtype=np.float64))
    k = min(args.top, n_classes)
    width = max(len(n) for n in names)
    for path, p in zip(args.images, probs, strict=True):
        order = np.argsort(-p, kind="stable")[:k]
        print(f"{path}:")
        for rank, c in enumerate(order, 1):
            print(f"  {rank}. {names[c]:<{width}}  {p[c]:.4f}")
    return 0
