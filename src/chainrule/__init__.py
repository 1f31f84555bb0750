"""chainrule: backpropagation on computational graphs, done properly.

The layers, network and gradient check of chapter 5 of *Deep Learning from Scratch*, with the
book's names. ``import chainrule`` needs NumPy only.
"""

from chainrule.functions import cross_entropy_error, sigmoid, softmax
from chainrule.gradcheck import (
    GradientCheckError,
    GradientCheckReport,
    check_layer,
    gradient_check,
    numerical_gradient,
)
from chainrule.layers import AddLayer, Affine, MulLayer, Relu, Sigmoid, SoftmaxWithLoss
from chainrule.models import TwoLayerNet

__version__ = "0.1.0"

__all__ = [
    "AddLayer",
    "Affine",
    "GradientCheckError",
    "GradientCheckReport",
    "MulLayer",
    "Relu",
    "Sigmoid",
    "SoftmaxWithLoss",
    "TwoLayerNet",
    "__version__",
    "check_layer",
    "cross_entropy_error",
    "gradient_check",
    "numerical_gradient",
    "sigmoid",
    "softmax",
]
