"""The book's ``common/util.py``: curve smoothing, shuffling, and the im2col windows of chapter 7."""

from chainrule.datasets import shuffle_dataset
from chainrule.train import smooth_curve
from chainrule.windows import col2im, conv_output_size, im2col

__all__ = ["col2im", "conv_output_size", "im2col", "shuffle_dataset", "smooth_curve"]
