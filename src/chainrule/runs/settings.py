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
from chainrule.models import ACTIVATIONS, DTYPE_NAMES, MODEL_NAMES, MODELS
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
    "hidden": None,  # two-layer: [50]; mlp: [100, 100]
    "activation": "relu",
    "weight_init": None,  # two-layer: 0.01 (the book's); mlp: "he" for relu, "xavier" otherwise
    "batch_norm": False,
    "dropout": 0.0,
    "weight_decay": 0.0,
    "optimizer": "sgd",
    "lr": None,  # sgd: 0.1 (the book's ch05); others: the optimizer's own default
    "batch_size": 100,
    "epochs": None,
    "iters": None,  # neither given: 10,000 iterations
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
        if s[name] not in allowed:
            raise RunError(f"{option(name)} must be one of {', '.join(allowed)}, got {s[name]!r}")
    for name, (valid, expected) in _RULES.items():
        if s[name] is not None and not valid(s[name]):
            raise RunError(f"{option(name)} must be {expected}, got {s[name]!r}")
    if s["epochs"] is not None and s["iters"] is not None:
        raise RunError(f"give {option('epochs')} or {option('iters')}, not both")


def resolve_settings(given: Mapping[str, Any]) -> dict[str, Any]:
    """:data:`DEFAULT_SETTINGS` overridden by ``given``, with the "decided by the others" entries
    filled in and checked to fit together (:class:`RunError` otherwise)."""
    unknown = [k for k in given if k not in DEFAULT_SETTINGS]
    if unknown:
        raise RunError(f"unknown setting {unknown[0]!r}; the settings are {', '.join(DEFAULT_SETTINGS)}")
    s = {**DEFAULT_SETTINGS, **given}
    _check_values(s)
    if s["epochs"] is None and s["iters"] is None:
        s["iters"] = 10_000
    if s["model"] == "two-layer":
        s["hidden"] = s["hidden"] or [50]
        if len(s["hidden"]) != 1:
            raise RunError(
                f"{option('model', 'two-layer')} takes one {option('hidden')} size, got {len(s['hidden'])}; "
                f"use {option('model', 'mlp')}"
            )
        extras = [
            option(name)
            for name, used in (
                ("activation", s["activation"] != "relu"),
                ("batch_norm", s["batch_norm"]),
                ("dropout", s["dropout"] > 0),
                ("weight_decay", s["weight_decay"] > 0),
            )
            if used
        ]
        if extras:
            raise RunError(
                f"{', '.join(extras)} need {option('model', 'mlp')} (two-layer is the book's Affine-ReLU-Affine)"
            )
        if s["weight_init"] is None:
            s["weight_init"] = 0.01
    else:
        s["hidden"] = s["hidden"] or [100, 100]
        if s["weight_init"] is None:
            s["weight_init"] = "he" if s["activation"] == "relu" else "xavier"
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


def model_config(settings: Mapping[str, Any], input_size: int, n_classes: int) -> dict[str, Any]:
    """The model ``config`` (what :func:`chainrule.models.build_model` takes) for resolved settings.

    The keys are the model class's own ``config_keys``; this maps each from the settings.
    """
    s = settings
    cls = MODELS[s["model"]]
    values = {
        "input_size": input_size,
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
    return {"model": cls.model_name, **{key: values[key] for key in cls.config_keys}}
