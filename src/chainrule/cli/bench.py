"""``chainrule bench``: the speed comparison of ``benchmarks/`` on the user's machine."""

from __future__ import annotations

import argparse

from chainrule.cli.train import positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="time a training step against the book's code, a hand-fused NumPy loop and PyTorch",
        description=(
            "Time one training step of the 784-50-10 network through chainrule, the book's float64 "
            "structure, a hand-fused float32 NumPy loop and PyTorch eager (if installed), interleaved "
            "in one process, and print medians and ratios. --full adds the whole default training run "
            "against the book's loop and the fused loop, each in its own process, with peak memory."
        ),
    )
    parser.add_argument(
        "--dataset",
        default="auto",
        choices=("auto", "fashion-mnist", "mnist", "synthetic"),
        help="data to train on (auto: Fashion-MNIST or MNIST if on this machine, else random data)",
    )
    parser.add_argument("--larger", action="store_true", help="also hidden 500 / batch 1000 and a 5-layer MLP")
    parser.add_argument(
        "--full", action="store_true", help="also the whole default training run vs the book's loop (minutes)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer timing rounds (noisier)")
    parser.add_argument(
        "--repeat",
        type=positive_int,
        default=3,
        metavar="N",
        help="interleaved rounds of the whole-run comparison with --full (default 3; the median is shown)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chainrule.bench import benchmark_report

    print(benchmark_report(args.dataset, full=args.full, larger=args.larger, quick=args.quick, repeats=args.repeat))
    return 0
