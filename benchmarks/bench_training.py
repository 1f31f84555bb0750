"""Speed of chainrule's training against the book's code, a hand-fused NumPy loop and PyTorch.

Run by hand (never in the test suite), on an otherwise idle machine, from the repository root:

    python benchmarks/bench_training.py            # everything: step table, larger sizes, whole run
    python benchmarks/bench_training.py --quick    # the 784-50-10 step only, fewer rounds
    python benchmarks/bench_training.py --repeat 5 # more rounds of the whole-run comparison
    python benchmarks/bench_training.py --conv     # the SimpleConvNet comparison only (chapter 7)

It prints Markdown tables: median µs per training step with ratios, the whole default
`chainrule train` run against the book's loop and a hand-fused loop (median seconds of
interleaved rounds, test accuracy, peak memory), and the cost of backprop against the numerical
gradient; then SimpleConvNet's step (against the book's chapter-7 structure and PyTorch), one
epoch and the test evaluation. The baselines live beside this script (book_code.py,
fused_loop.py), never in the installed package.
"""

import argparse

from conv_harness import conv_report
from harness import benchmark_report, gemm_gflops, load_bench_data


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the 784-50-10 step only, fewer rounds")
    parser.add_argument(
        "--dataset",
        default="auto",
        choices=("auto", "fashion-mnist", "mnist", "synthetic"),
        help="data to train on (auto: Fashion-MNIST or MNIST if on this machine, else random data)",
    )
    parser.add_argument(
        "--repeat", type=_positive_int, default=3, metavar="N", help="interleaved rounds of the whole-run comparison"
    )
    parser.add_argument("--conv", action="store_true", help="the SimpleConvNet comparison only")
    args = parser.parse_args()
    full = not args.quick
    if not args.conv:
        print(benchmark_report(args.dataset, full=full, larger=full, quick=args.quick, repeats=args.repeat))
    if args.conv or full:
        (x_train, t_train, x_test, t_test), description = load_bench_data(args.dataset)
        print(f"\n{'chainrule benchmarks — data: ' + description if args.conv else ''}")
        print(conv_report(x_train, t_train, x_test, t_test, gflops=gemm_gflops(), quick=args.quick, epoch=full))


if __name__ == "__main__":
    main()
