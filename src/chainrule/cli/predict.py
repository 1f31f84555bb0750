"""``chainrule predict``: classify image files with a saved 28×28 image model.

Each image is prepared the way the model's training data was (:mod:`chainrule.images`): the
data set recorded in the checkpoint chooses MNIST's digit preparation or Fashion-MNIST's
garment preparation, and a 28×28 grayscale image of that kind goes in unchanged. An image that
cannot be read is reported on stderr and the rest are still classified; the exit status is then
2. ``--quiet`` prints one line per image, ``--json`` one JSON document.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from chainrule.checkpoint import load_checkpoint
from chainrule.cli.options import UsageError, positive_int
from chainrule.datasets import CLASS_NAMES
from chainrule.functions import softmax
from chainrule.images import KINDS, SIZE, load_image
from chainrule.runs import recorded_dataset

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "predict",
        help="classify PNG/JPEG images with a saved model",
        description=(
            "Classify images (any size or colour) and print the top classes with probabilities. Each image is "
            "prepared like the model's training data: mnist digits are fitted into 20x20 and centred by mass in "
            "28x28; fashion-mnist garments have their longer edge resized to 28 and are centred. A 28x28 "
            "grayscale image with a dark background (a test image saved as PNG) goes in unchanged."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="checkpoint file or run folder")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="image files")
    p.add_argument("--top", type=positive_int, default=3, metavar="K", help="classes shown per image (default 3)")
    p.add_argument(
        "--dataset",
        choices=KINDS,
        default=None,
        help="prepare images like this data set (default: the one the model was trained on)",
    )
    output = p.add_mutually_exclusive_group()
    output.add_argument("--quiet", action="store_true", help="one line per image: path, class, probability")
    output.add_argument("--json", action="store_true", help="print one JSON document (predictions and errors)")
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
    recorded, _ = recorded_dataset(ckpt)
    kind = args.dataset or recorded
    if kind not in KINDS:
        raise UsageError(
            f"{ckpt.path} does not record an image data set (got {recorded!r}); "
            f"pass --dataset {' or --dataset '.join(KINDS)} to say how to prepare the images"
        )
    names = CLASS_NAMES.get(kind, ())
    if len(names) != n_classes:
        names = tuple(str(i) for i in range(n_classes))

    paths, inputs, errors = [], [], []
    for path in args.images:
        try:
            inputs.append(load_image(path, kind=kind).reshape(model.input_shape))
        except ValueError as exc:
            errors.append({"image": path, "error": str(exc)})
            print(f"chainrule predict: error: {exc}", file=sys.stderr)
            continue
        paths.append(path)
    dtype = np.asarray(next(iter(model.params.values()))).dtype
    probs = (
        softmax(np.asarray(model.predict(np.stack(inputs).astype(dtype, copy=False)), dtype=np.float64))
        if inputs
        else np.zeros((0, n_classes))
    )
    k = min(args.top, n_classes)
    results = []
    for path, p in zip(paths, probs, strict=True):
        order = np.argsort(-p, kind="stable")[:k]
        results.append(
            {"image": path, "top": [{"class": int(c), "label": names[c], "probability": float(p[c])} for c in order]}
        )

    if args.json:
        doc = {"model": str(ckpt.path), "dataset": kind, "predictions": results, "errors": errors}
        print(json.dumps(doc, indent=2))
    elif args.quiet:
        for r in results:
            best = r["top"][0]
            print(f"{r['image']}\t{best['label']}\t{best['probability']:.4f}")
    else:
        width = max(len(n) for n in names)
        for r in results:
            print(f"{r['image']}:")
            for rank, c in enumerate(r["top"], 1):
                print(f"  {rank}. {c['label']:<{width}}  {c['probability']:.4f}")
    return 2 if errors else 0
