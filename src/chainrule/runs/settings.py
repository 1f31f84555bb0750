"""The settings of a training run: their defaults, how the rest follow, and the model they describe.

``DEFAULT_SETTINGS`` are the options of ``chainrule train``; :func:`resolve_settings` fills in
those that depend on the others and checks that they fit together; :func:`model_config` maps
them to the model's ``config``. :class:`RunError` names settings as Python keywords
(``model='two-layer'``) and, through :meth:`RunError.cli_message`, as the command line's options
(``--model two-layer``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from chainrule._checks import is_int, is_real
from chainrule.datasets import CLASS_NAMES, DATASET_NAMES
from chainrule.models import ACTIVATIONS, DEEP_CONV_PARAMS, DTYPE_NAMES, MODEL_NAMES, MODELS
from chainrule.optim import OPTIMIZERS
from chainrule.train import MONITORS, SCHEDULES

__all__ = [
    "DEFAULT_SETTINGS",
    "RESUMABLE_SETTINGS",
    "RunError",
    "model_config",
    "n_classes_of",
    "option",
    "resolve_settings",
]

#: The settings a run is defined by (the options of ``chainrule train``); run.json stores them
#: all and a resume reads them back. None means "decided by the others" (see resolve_settings).
DEFAULT_SETTINGS: dict[str, Any] = {
    "dataset": "mnist",
    "data_dir": None,
    "model": "two-layer",
    "hidden": None,  # two-layer: [50]; mlp: [100, 100]; convnet: [100]; deep-convnet: [50]
    "activation": "relu",
    "weight_init": None,  # two-layer: 0.01 (the book's); mlp: "he" for relu, "xavier" otherwise
    "batch_norm": False,
    "dropout": None,  # mlp: 0 (none); deep-convnet: 0.5 (the book's)
    "filters": None,  # convnet: [30] (5x5); deep-convnet: [16, 16, 32, 32, 64, 64] (3x3)
    "weight_decay": 0.0,
    "optimizer": None,  # sgd (the book's ch05); adam for the convolutional networks (ch07, ch08)
    "lr": None,  # sgd: 0.1 (the book's ch05); others: the optimizer's own default
    "batch_size": 100,
    "epochs": None,
    "iters": None,  # neither given: 10,000 iterations (the convolutional networks: 20 epochs)
    "schedule": "none",
    "step_size": 10,
    "gamma": 0.1,
    "min_lr": 0.0,
    "early_stopping": None,
    "monitor": "test_loss",
    "seed": 0,
    "dtype": "float32",
}
#: What a resume may change; every other setting is the run's own.
RESUMABLE_SETTINGS: tuple[str, ...] = ("epochs", "iters", "data_dir")


# --------------------------------------------------------------------------------------------
# Errors that name settings in the caller's language
# --------------------------------------------------------------------------------------------

_MARK = re.compile("\x00([^\x00\x01]*)\x01([^\x00]*)\x00")
_NO_VALUE = object()


def option(name: str, value: Any = _NO_VALUE, *, python: str | None = None) -> str:
    """A setting named inside a :class:`RunError` message: ``--name value`` on the command
    line, ``name=value`` (or ``python``) in Python."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    flag = "--" + name.replace("_", "-")
    cli = flag if value is _NO_VALUE else f"{flag} {value}"
    if python is None:
        python = name if value is _NO_VALUE else f"{name}={value!r}"
    return f"\x00{cli}\x01{python}\x00"


class RunError(ValueError):
    """Settings that do not fit together, or a run folder that cannot be used.

    ``str(error)`` names settings as Python keywords; :meth:`cli_message` as ``--options``.
    """

    def __init__(self, message: str) -> None:
        self._raw = message
        super().__init__(_MARK.sub(lambda m: m.group(2), message))

    def cli_message(self) -> str:
        """The message with each setting written as the command line's option."""
        return _MARK.sub(lambda m: m.group(1), self._raw)


# --------------------------------------------------------------------------------------------
# Settings → data, model, optimizer
# --------------------------------------------------------------------------------------------


_CHOICES: dict[str, tuple[str, ...]] = {
    "dataset": DATASET_NAMES,
    "model": MODEL_NAMES,
    "activation": tuple(ACTIVATIONS),
    "optimizer": tuple(OPTIMIZERS),
    "schedule": SCHEDULES,
    "monitor": MONITORS,
    "dtype": DTYPE_NAMES,
}


def _positive_int(v: Any) -> bool:
    return is_int(v) and v >= 1


def _positive_real(v: Any) -> bool:
    return is_real(v) and 0 < v < math.inf


def _non_negative_real(v: Any) -> bool:
    return is_real(v) and 0 <= v < math.inf


# setting → (test of a valid value, what the message says it must be); None always means "the default".
_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "data_dir": (lambda v: isinstance(v, (str, os.PathLike)), "a folder"),
    "hidden": (
        lambda v: isinstance(v, (list, tuple)) and len(v) > 0 and all(_positive_int(h) for h in v),
        "a list of positive integers",
    ),
    "weight_init": (lambda v: v in ("he", "xavier") or _positive_real(v), "'he', 'xavier' or a positive std"),
    "batch_norm": (lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
    "dropout": (lambda v: is_real(v) and 0 <= v < 1, "a number in [0, 1)"),
    "filters": (
        lambda v: isinstance(v, (list, tuple)) and len(v) > 0 and all(_positive_int(f) for f in v),
        "a list of positive integers",
    ),
    "weight_decay": (_non_negative_real, "a number >= 0"),
    "lr": (_positive_real, "a positive number"),
    "batch_size": (_positive_int, "a positive integer"),
    "epochs": (_positive_int, "a positive integer"),
    "iters": (_positive_int, "a positive integer"),
    "step_size": (_positive_int, "a positive integer"),
    "gamma": (_positive_real, "a positive number"),
    "min_lr": (_non_negative_real, "a number >= 0"),
    "early_stopping": (_positive_int, "a positive integer (the patience in epochs)"),
    "seed": (lambda v: is_int(v) and v >= 0, "an integer >= 0"),
}


def _check_values(s: Mapping[str, Any]) -> None:
    """Each setting's own value: a choice from its list, or a number or list of the right kind."""
    for name, allowed in _CHOICES.items():
        if s[name] not in allowed and not (s[name] is None and DEFAULT_SETTINGS[name] is None):
            raise RunError(f"{option(name)} must be one of {', '.join(allowed)}, got {s[name]!r}")
    for name, (valid, expected) in _RULES.items():
        if s[name] is not None and not valid(s[name]):
            raise RunError(f"{option(name)} must be {expected}, got {s[name]!r}")
    if s["epochs"] is not None and s["iters"] is not None:
        raise RunError(f"give {option('epochs')} or {option('iters')}, not both")


#: The models that take images (N, C, H, W).
CONV_MODELS: tuple[str, ...] = ("convnet", "deep-convnet")
_DEFAULT_HIDDEN = {"two-layer": (50,), "mlp": (100, 100), "convnet": (100,), "deep-convnet": (50,)}
_DEFAULT_FILTERS = {"convnet": (30,), "deep-convnet": tuple(p["filter_num"] for p in DEEP_CONV_PARAMS)}
# setting → (is it used, the models it applies to); hidden, weight_init and the rest apply to all
# but where noted.
_MODEL_SETTINGS: dict[str, tuple[Callable[[Any], bool], tuple[str, ...]]] = {
    "activation": (lambda v: v != "relu", ("mlp",)),
    "batch_norm": (bool, ("mlp",)),
    "dropout": (lambda v: v is not None and v > 0, ("mlp", "deep-convnet")),
    "weight_decay": (lambda v: v > 0, ("mlp",)),
    "filters": (lambda v: v is not None, CONV_MODELS),
    "weight_init": (lambda v: v is not None, ("two-layer", "mlp", "convnet")),
}


def _check_fits_model(s: Mapping[str, Any]) -> None:
    model = s["model"]
    extras = [name for name, (used, models) in _MODEL_SETTINGS.items() if used(s[name]) and model not in models]
    if not extras:
        return
    if model == "two-layer" and all("mlp" in _MODEL_SETTINGS[name][1] for name in extras):
        # The chapter-5 network: its options were always "need --model mlp".
        raise RunError(
            f"{', '.join(option(n) for n in extras)} need {option('model', 'mlp')} "
            "(two-layer is the book's Affine-ReLU-Affine)"
        )
    name = extras[0]
    models = ", ".join(_MODEL_SETTINGS[name][1])
    raise RunError(f"{option(name)} does not apply to {option('model', model)} (it applies to {models})")


def resolve_settings(given: Mapping[str, Any]) -> dict[str, Any]:
    """:data:`DEFAULT_SETTINGS` overridden by ``given``, with the "decided by the others" entries
    filled in and checked to fit together (:class:`RunError` otherwise)."""
    unknown = [k for k in given if k not in DEFAULT_SETTINGS]
    if unknown:
        raise RunError(f"unknown setting {unknown[0]!r}; the settings are {', '.join(DEFAULT_SETTINGS)}")
    s = {**DEFAULT_SETTINGS, **given}
    _check_values(s)
    model = s["model"]
    conv = model in CONV_MODELS
    if s["epochs"] is None and s["iters"] is None:
        if conv:
            s["epochs"] = 20  # the book's train_convnet.py and train_deepnet.py
        else:
            s["iters"] = 10_000
    if s["optimizer"] is None:
        s["optimizer"] = "adam" if conv else "sgd"
    _check_fits_model(s)
    s["hidden"] = s["hidden"] or list(_DEFAULT_HIDDEN[model])
    if model != "mlp" and len(s["hidden"]) != 1:
        raise RunError(
            f"{option('model', model)} takes one {option('hidden')} size, got {len(s['hidden'])}; "
            f"use {option('model', 'mlp')}"
        )
    if s["weight_init"] is None and model == "mlp":
        s["weight_init"] = "he" if s["activation"] == "relu" else "xavier"
    elif s["weight_init"] is None and model != "deep-convnet":
        s["weight_init"] = 0.01  # the book's weight_init_std for TwoLayerNet and SimpleConvNet
    if s["dropout"] is None:
        s["dropout"] = 0.5 if model == "deep-convnet" else 0.0
    if conv:
        if s["dataset"] == "spiral":
            raise RunError(f"{option('model', model)} needs images: {option('dataset')} mnist or fashion-mnist")
        s["filters"] = [int(f) for f in (s["filters"] or _DEFAULT_FILTERS[model])]
        if len(s["filters"]) != len(_DEFAULT_FILTERS[model]):
            raise RunError(
                f"{option('model', model)} takes {len(_DEFAULT_FILTERS[model])} {option('filters')} "
                f"number{'s' * (len(_DEFAULT_FILTERS[model]) > 1)}, got {len(s['filters'])}"
            )
    s["hidden"] = [int(h) for h in s["hidden"]]
    if s["lr"] is None:
        s["lr"] = 0.1 if s["optimizer"] == "sgd" else float(OPTIMIZERS[s["optimizer"]]().lr)
    if s["schedule"] == "cosine" and s["min_lr"] >= s["lr"]:
        raise RunError(f"{option('min_lr')} ({s['min_lr']:g}) must be below {option('lr')} ({s['lr']:g})")
    if s["data_dir"] is not None:
        if s["dataset"] == "spiral":
            raise RunError(f"{option('data_dir')} applies to mnist and fashion-mnist; spiral is generated")
        s["data_dir"] = str(Path(s["data_dir"]).expanduser().resolve())  # eval may run from elsewhere
    return s


def n_classes_of(name: str, t_train: np.ndarray, t_test: np.ndarray) -> int:
    """Classes of a data set: its named classes, or more if its labels go higher."""
    return max(len(CLASS_NAMES.get(name, ())), int(max(t_train.max(), t_test.max())) + 1)


def model_config(settings: Mapping[str, Any], input_shape: tuple[int, ...], n_classes: int) -> dict[str, Any]:
    """The model ``config`` (what :func:`chainrule.models.build_model` takes) for resolved settings.

    ``input_shape`` is one sample's shape: (D,) for the fully connected models (or any shape,
    flattened), (C, H, W) for the convolutional ones. The keys are the model class's own
    ``config_keys``; this maps each from the settings.
    """
    s = settings
    cls = MODELS[s["model"]]
    filters = s.get("filters") or _DEFAULT_FILTERS.get(s["model"], ())
    values = {
        "input_size": int(np.prod(input_shape)),
        "input_dim": list(input_shape),
        "output_size": n_classes,
        "hidden_size": s["hidden"][0],
        "hidden_sizes": list(s["hidden"]),
        "weight_init_std": s["weight_init"],
        "weight_init": s["weight_init"],
        "activation": s["activation"],
        "batch_norm": bool(s["batch_norm"]),
        "dropout": float(s["dropout"]),
        "weight_decay": float(s["weight_decay"]),
        "dtype": s["dtype"],
    }
    if s["model"] == "convnet":
        values["conv_param"] = {"filter_num": filters[0], "filter_size": 5, "pad": 0, "stride": 1}
    elif s["model"] == "deep-convnet":
        for i, (p, n) in enumerate(zip(DEEP_CONV_PARAMS, filters, strict=True), start=1):
            values[f"conv_param_{i}"] = {**p, "filter_num": n}
    return {"model": cls.model_name, **{key: values[key] for key in cls.config_keys}}
