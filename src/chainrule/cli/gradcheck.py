"""``chainrule gradcheck``: backprop against central differences on a small random network."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from chainrule._checks import AllocationTooLarge, check_allocation
from chainrule.cli.options import (
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    too_large,
    weight_init,
)
from chainrule.gradcheck import DEFAULT_ATOL, DEFAULT_RTOL, gradient_check
from chainrule.models import ACTIVATIONS, MODEL_NAMES, build_model
from chainrule.runs import CONV_MODELS, model_config, resolve_settings

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
        "--hidden",
        type=positive_int,
        nargs="+",
        metavar="SIZE",
        default=None,
        help="default: 5 (two-layer, convnet, deep-convnet), 5 4 (mlp)",
    )
    p.add_argument(
        "--filters",
        type=positive_int,
        nargs="+",
        metavar="N",
        default=None,
        help="convolution filters: one number for convnet (default 3), six for deep-convnet (default 2 each)",
    )
    p.add_argument("--activation", choices=tuple(ACTIVATIONS), default=None, help="mlp activation (default: relu)")
    p.add_argument(
        "--weight-init", type=weight_init, metavar="INIT", default=None, help="he (default), xavier or a std"
    )
    p.add_argument("--batch-norm", action="store_true", default=None, help="mlp: batch normalisation")
    p.add_argument("--weight-decay", type=non_negative_float, metavar="L", default=None, help="mlp: L2 strength")
    p.add_argument("--input-size", type=positive_int, default=6, metavar="D", help="features per sample (default 6)")
    p.add_argument(
        "--input-dim",
        type=positive_int,
        nargs=3,
        default=(1, 8, 8),
        metavar=("C", "H", "W"),
        help="image shape for convnet and deep-convnet (default 1 8 8)",
    )
    p.add_argument("--classes", type=positive_int, default=3, metavar="C", help="number of classes (default 3)")
    p.add_argument("--batch", type=positive_int, default=3, metavar="N", help="samples in the batch (default 3)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--rtol", type=positive_float, default=DEFAULT_RTOL, help=f"default {DEFAULT_RTOL:g}")
    p.add_argument("--atol", type=non_negative_float, default=DEFAULT_ATOL, help=f"default {DEFAULT_ATOL:g}")
    p.set_defaults(func=run)


_SMALL_FILTERS = {"convnet": [3], "deep-convnet": [2] * 6}


def run(args: argparse.Namespace) -> int:
    conv = args.model in CONV_MODELS
    given: dict[str, Any] = {
        "model": args.model,
        "hidden": args.hidden or ([5, 4] if args.model == "mlp" else [5]),
        "dtype": "float64",
        "dataset": "mnist" if conv else "spiral",  # only the settings' checks see it; no data is loaded
    }
    if args.model != "deep-convnet":
        given["weight_init"] = args.weight_init or "he"
    if conv:
        given["filters"] = args.filters or _SMALL_FILTERS[args.model]
    for key in ("activation", "batch_norm", "weight_decay", "weight_init", "filters"):
        if getattr(args, key) is not None:
            given[key] = getattr(args, key)
    settings = resolve_settings(given)  # the same checks as `chainrule train`

    input_shape = tuple(args.input_dim) if conv else (args.input_size,)
    config = model_config(settings, input_shape, args.classes)
    rng = np.random.default_rng(args.seed)
    typed = {  # the size options given on the command line (None: left at the default)
        "hidden": args.hidden,
        "filters": args.filters,
        "input_size": None if conv or args.input_size == 6 else args.input_size,
        "input_dim": args.input_dim if conv and tuple(args.input_dim) != (1, 8, 8) else None,
        "classes": args.classes if args.classes != 3 else None,
        "batch": args.batch if args.batch != 3 else None,
    }
    try:
        net = build_model(config, seed=rng)
        # The batch and each layer's outputs for it, in float64 (a rough floor: a convolution needs more).
        widths = int(np.prod(input_shape)) + sum(settings["hidden"]) + args.classes
        check_allocation(8 * 2 * args.batch * widths, f"a batch of {args.batch} samples and its activations")
    except AllocationTooLarge as exc:
        raise too_large(exc, typed) from None
    x = rng.standard_normal((args.batch, *input_shape))
    t = rng.integers(0, args.classes, args.batch)
    report = gradient_check(net, x, t, rtol=args.rtol, atol=args.atol)
    if conv:
        sizes = f"{'x'.join(map(str, input_shape))}, filters {' '.join(map(str, settings['filters']))}, " + "-".join(
            str(s) for s in (*settings["hidden"], args.classes)
        )
    else:
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
