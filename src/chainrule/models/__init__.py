"""Networks assembled from layers, with the book's names and interface.

- :mod:`~chainrule.models.base`: :class:`Network` (what every network shares: ``params`` owned
  once, ``predict``/``loss``/``accuracy``/``gradient``/``numerical_gradient``, ``frozen``,
  ``copy``), :class:`ParameterDict` and the weight initialisation;
- :mod:`~chainrule.models.mlp`: ``TwoLayerNet`` (chapter 5), ``MultiLayerNet`` and the book's
  ``MultiLayerNetExtend`` (chapter 6);
- :mod:`~chainrule.models.convnet`: ``SimpleConvNet`` (chapter 7) and ``DeepConvNet`` (chapter 8);
- :mod:`~chainrule.models.registry`: the model names and ``build_model(config)``.
"""

from chainrule.models.base import MAX_INIT_STD, Network, ParameterDict, init_array, init_scale, init_weight
from chainrule.models.convnet import DEEP_CONV_PARAMS, DeepConvNet, SimpleConvNet
from chainrule.models.mlp import ACTIVATIONS, MultiLayerNet, MultiLayerNetExtend, TwoLayerNet
from chainrule.models.registry import DTYPE_NAMES, MODEL_NAMES, MODELS, build_model, model_blueprint

__all__ = [
    "MAX_INIT_STD",
    "ACTIVATIONS",
    "DEEP_CONV_PARAMS",
    "DTYPE_NAMES",
    "MODELS",
    "MODEL_NAMES",
    "DeepConvNet",
    "MultiLayerNet",
    "MultiLayerNetExtend",
    "Network",
    "ParameterDict",
    "SimpleConvNet",
    "TwoLayerNet",
    "build_model",
    "init_array",
    "init_scale",
    "init_weight",
    "model_blueprint",
]
