"""5.7.3 Gradient check: backprop against central differences for TwoLayerNet.

The book uses the first three MNIST training images. This example uses the first three MNIST
*test* images when chainrule can find MNIST (see the README's "Data sets"), and otherwise three
random 784-pixel images, so it runs anywhere. Pass --random to skip the data search.

Run: python examples/gradient_check.py
"""

import sys

import numpy as np

from chainrule import TwoLayerNet, gradient_check


def three_images() -> tuple[np.ndarray, np.ndarray, str]:
    if "--random" not in sys.argv:
        try:
            from chainrule.datasets import DatasetError, load_mnist

            try:
                _, (x_test, t_test) = load_mnist(download=False)
                return x_test[:3].astype(np.float64), t_test[:3], "the first 3 MNIST test images"
            except DatasetError:
                pass
        except ImportError:
            pass
    rng = np.random.default_rng(0)
    return rng.random((3, 784)), rng.integers(0, 10, 3), "3 random 784-pixel images"


def main() -> None:
    x_batch, t_batch, source = three_images()
    network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10, seed=0)
    report = gradient_check(network, x_batch, t_batch)
    print(f"TwoLayerNet 784-50-10 on {source}")
    print(report)
    sys.exit(0 if report.passed else 1)


if __name__ == "__main__":
    main()
