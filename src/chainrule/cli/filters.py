"""``chainrule filters``: the first convolution's filters of a run, before and after training (figure 7-24)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.checkpoint import load_checkpoint
from chainrule.cli.options import UsageError, positive_int
from chainrule.draw import draw_filters
from chainrule.runs import RunError, load_run

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "filters",
        help="draw a convolutional network's first-layer filters, before and after training",
        description=(
            "Draw the filters of a convolutional run's first layer as a grid of small images (the book's "
            "figure 7-24): the initial filters, rebuilt from the run's seed, above the trained ones. MODEL is a "
            "run folder (the picture goes to MODEL/filters.png unless -o is given) or a checkpoint file "
            "(trained filters only; -o is needed)."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="run folder or checkpoint file")
    p.add_argument("-o", "--output", type=Path, metavar="FILE", help="PNG file to write")
    p.add_argument("--param", default="W1", metavar="NAME", help="which filters (default W1, the first layer)")
    p.add_argument("--columns", type=positive_int, default=8, metavar="N", help="filters per row (default 8)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    folder = Path(args.model).expanduser()
    ckpt = load_checkpoint(folder)
    trained = ckpt.model.params.get(args.param)
    if trained is None or np.ndim(trained) != 4:
        convs = [k for k, v in ckpt.model.params.items() if np.ndim(v) == 4]
        raise UsageError(
            f"{ckpt.path}: {args.param} is not a convolution's filters"
            + (f"; the model's filters are {', '.join(convs)}" if convs else " (the model has no convolution)")
        )
    panels = {"after training": trained}
    if folder.is_dir():
        try:
            panels = {"before training": load_run(folder).initial_model().params[args.param], **panels}
        except (RunError, KeyError):
            pass  # no run.json (a bare checkpoint folder): the trained filters alone
    output = args.output
    if output is None:
        if not folder.is_dir():
            raise UsageError("give the PNG file to write with -o FILE (MODEL is a checkpoint file, not a run folder)")
        output = folder / "filters.png"
    if output.suffix.lower() != ".png":
        raise UsageError(f"the picture is a PNG: give -o a .png file, got {output.name!r}")
    shape = "x".join(map(str, trained.shape))
    draw_filters(panels, path=output, columns=args.columns, title=f"{args.param} ({shape}), channel 0")
    print(f"wrote {output}", file=sys.stderr)
    return 0
