"""Models by name: ``config["model"]`` → class, and rebuilding a model from its config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from chainrule._checks import FLOAT_DTYPES
from chainrule.models.base import Network
from chainrule.models.convnet import DeepConvNet, SimpleConvNet
from chainrule.models.mlp import MultiLayerNet, MultiLayerNetExtend, TwoLayerNet

__all__ = ["DTYPE_NAMES", "MODELS", "MODEL_NAMES", "build_model", "model_blueprint"]

#: The float dtypes a network can be built in, by name (``dtype=`` and the CLI's ``--dtype``).
DTYPE_NAMES: tuple[str, ...] = tuple(dt.name for dt in FLOAT_DTYPES)

# config["model"] → class; every model class takes its config (less "model") as keyword arguments.
MODELS: dict[str, type[Network]] = {
    cls.model_name: cls for cls in (TwoLayerNet, MultiLayerNet, SimpleConvNet, DeepConvNet, MultiLayerNetExtend)
}
#: The models the CLI's ``--model`` and run folders build (MultiLayerNetExtend is the book's
#: spelling of ``mlp``: checkpoints rebuild it, settings name ``mlp``).
MODEL_NAMES: tuple[str, ...] = ("two-layer", "mlp", "convnet", "deep-convnet")


def build_model(config: Mapping[str, Any], *, seed: int | np.random.Generator | None = None) -> Any:
    """Rebuild an (untrained) model from its ``config`` dict, as stored in a checkpoint."""
    kind = config.get("model")
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; expected one of {sorted(MODELS)}")
    kwargs = {k: v for k, v in config.items() if k != "model"}
    try:
        return MODELS[kind](**kwargs, seed=seed)
    except TypeError as exc:
        raise ValueError(f"model config for {kind!r} does not match its constructor: {exc}") from exc


def model_blueprint(config: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The ``(params, buffers)`` the model of ``config`` would have, as zero-memory arrays of the
    right shapes and dtypes (see :meth:`Network.blueprint`); nothing is built or allocated.
    ``ValueError`` for a config that :func:`build_model` would refuse."""
    kind = config.get("model")
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; expected one of {sorted(MODELS)}")
    kwargs = {k: v for k, v in config.items() if k != "model"}
    try:
        return MODELS[kind].blueprint(kwargs)
    except TypeError as exc:
        raise ValueError(f"model config for {kind!r} does not match its constructor: {exc}") from exc
