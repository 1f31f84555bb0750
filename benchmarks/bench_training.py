"""Speed of chainrule's training against the book's code, a hand-fused NumPy loop and PyTorch.

Run by hand (never in the test suite), on an otherwise idle machine:

    python benchmarks/bench_training.py            # everything: step table, larger sizes, whole run
    python benchmarks/bench_training.py --quick    # the 784-50-10 step only, fewer rounds
    python benchmarks/bench_training.py --repeat 5 # more rounds of the whole-run comparison

It prints Markdown tables: median µs per training step with ratios, the whole default
`chainrule train` run against the book's loop and a hand-fused loop (median seconds of
interleaved rounds, test accuracy, peak memory), and the cost of backprop against the numerical
gradient. `chainrule bench --full --larger` runs the same.
"""

import argparse

from chainrule.bench import benchmark_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the 784-50-10 step only, fewer rounds")
    parser.add_argument("--dataset", default="auto", help="fashion-mnist, mnist, synthetic or auto (default)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds of the whole-run comparison")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error(f"--repeat must be a positive integer, got {args.repeat}")
    full = not args.quick
    print(benchmark_report(args.dataset, full=full, larger=full, quick=args.quick, repeats=args.repeat))


if __name__ == "__main__":
    main()
