"""chainrule: backpropagation on computational graphs, done properly.

The layers, networks and gradient checks of *Deep Learning from Scratch* (chapters 5–8), with the
book's names. ``import chainrule`` needs NumPy only.
"""

from chainrule._version import __version__
from chainrule.checkpoint import Checkpoint, CheckpointError, load_checkpoint, load_model, save_checkpoint
from chainrule.draw import draw_filters, draw_graph
from chainrule.functions import cross_entropy_error, sigmoid, softmax
from chainrule.gradcheck import (
    GradientCheckError,
    GradientCheckReport,
    check_layer,
    gradient_check,
    numerical_gradient,
)
from chainrule.graph import Variable, no_grad
from chainrule.layers import (
    AddLayer,
    Affine,
    BatchNormalization,
    Convolution,
    Dropout,
    MulLayer,
    Pooling,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
)
from chainrule.models import DeepConvNet, MultiLayerNet, SimpleConvNet, TwoLayerNet
from chainrule.optim import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop, make_optimizer
from chainrule.threads import blas_threads
from chainrule.train import EarlyStopping, LRSchedule, Trainer, TrainingDiverged, evaluate
from chainrule.windows import col2im, im2col

__all__ = [
    "blas_threads",
    "AddLayer",
    "Affine",
    "Checkpoint",
    "CheckpointError",
    "EarlyStopping",
    "GradientCheckError",
    "GradientCheckReport",
    "LRSchedule",
    "MulLayer",
    "Relu",
    "Sigmoid",
    "SoftmaxWithLoss",
    "Trainer",
    "TrainingDiverged",
    "TwoLayerNet",
    "__version__",
    "check_layer",
    "cross_entropy_error",
    "evaluate",
    "gradient_check",
    "load_checkpoint",
    "load_model",
    "numerical_gradient",
    "save_checkpoint",
    "sigmoid",
    "softmax",
    "BatchNormalization",
    "Dropout",
    "Tanh",
    "MultiLayerNet",
    "SGD",
    "Momentum",
    "Nesterov",
    "AdaGrad",
    "RMSprop",
    "Adam",
    "make_optimizer",
    "Variable",
    "draw_graph",
    "no_grad",
    "Convolution",
    "Pooling",
    "SimpleConvNet",
    "DeepConvNet",
    "im2col",
    "col2im",
    "draw_filters",
]
