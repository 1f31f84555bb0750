"""The book's ``dataset/mnist.py``: ``load_mnist(normalize=True, flatten=True, one_hot_label=False)``.

chainrule's loader: the same arrays and shapes, files found or downloaded as chainrule's README
describes (never a pickle cache).
"""

from chainrule.datasets import load_mnist

__all__ = ["load_mnist"]
