"""``chainrule gradcheck``: backprop against central differences on a small random network."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from chainrule.cli.options import non_negative_float, non_negative_int, positive_float, positive_int, weight_init
from chainrule.gradcheck import DEFAULT_ATOL, DEFAULT_RTOL, gradient_check
from chainrule.models import ACTIVATIONS, MODEL_NAMES, build_model
from chainrule.runs import model_config, resolve_settings

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "gradcheck",
        help="check backprop gradients against numerical ones on a small network",
        description=(
            "Build a small network in float64, draw a random batch and compare every parameter's backprop "
            "gradient with central differences. Exit status 1 if any error exceeds the tolerance."
        ),
    )
    p.add_argument("--model", choices=MODEL_NAMES, default="two-layer")
    p.add_argument(
        "--hidden", type=positive_int, nargs="+", metavar="SIZE", default=None, help="default: 5 (two-layer), 5 4 (mlp)"
    )
    p.add_argument("--activation", choices=tuple(ACTIVATIONS), default=None, help="mlp activation (default: relu)")
    p.add_argument("--weight-init", type=weight_init, metavar="INIT", default="he", help="he, xavier or a std")
    p.add_argument("--batch-norm", action="store_true", default=None, help="mlp: batch normalisation")
    p.add_argument("--weight-decay", type=non_negative_float, metavar="L", default=None, help="mlp: L2 strength")
    p.add_argument("--input-size", type=positive_int, default=6, metavar="D", help="features per sample (default 6)")
    p.add_argument("--classes", type=positive_int, default=3, metavar="C", help="number of classes (default 3)")
    p.add_argument("--batch", type=positive_int, default=3, metavar="N", help="samples in the batch (default 3)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--rtol", type=positive_float, default=DEFAULT_RTOL, help=f"default {DEFAULT_RTOL:g}")
    p.add_argument("--atol", type=non_negative_float, default=DEFAULT_ATOL, help=f"default {DEFAULT_ATOL:g}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    given = {
        "model": args.model,
        "hidden": args.hidden or ([5] if args.model == "two-layer" else [5, 4]),
        "weight_init": args.weight_init,
        "dtype": "float64",
        "dataset": "spiral",
    }
    for key in ("activation", "batch_norm", "weight_decay"):
        if getattr(args, key) is not None:
            given[key] = getattr(args, key)
    settings = resolve_settings(given)  # the same checks as `chainrule train`

    config = model_config(settings, args.input_size, args.classes)
    rng = np.random.default_rng(args.seed)
    net = build_model(config, seed=rng)
    x = rng.standard_normal((args.batch, args.input_size))
    t = rng.integers(0, args.classes, args.batch)
    report = gradient_check(net, x, t, rtol=args.rtol, atol=args.atol)
    sizes = "-".join(str(s) for s in (args.input_size, *settings["hidden"], args.classes))
    extras = "".join(
        f", {label}"
        for label, on in (
            (settings["activation"], settings["model"] == "mlp"),
            ("batch norm", settings["batch_norm"]),
            (f"weight decay {settings['weight_decay']:g}", settings["weight_decay"] > 0),
        )
        if on
    )
    print(f"gradient check of {settings['model']} {sizes}{extras}: batch of {args.batch}, float64, seed {args.seed}")
    print(report)
    return 0 if report.passed else 1
