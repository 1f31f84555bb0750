"""Checkpoints: a model, its optimizer and the training state in one safetensors file.

Layout of a checkpoint (``.safetensors``; never pickle, nothing is executed on load):

- tensors ``param/<name>`` (the model's ``params``), ``buffer/<name>`` (its ``buffers``, e.g.
  BatchNorm running statistics), ``optim/<key>`` (the optimizer's ``state_dict()``) and
  ``trainer/<key>`` (arrays the trainer needs to resume, e.g. the best parameters so far);
- metadata ``"chainrule"``: JSON with the format version, the library version, the model's
  ``config``, the optimizer's ``config``, the state of the ``np.random.Generator``
  (``bit_generator.state``, needed for an exact resume), the trainer's state (epoch,
  iteration, history, settings) and free-form ``info`` (e.g. the data set's name).

Files are written atomically (:func:`chainrule._files.atomic_write`: temp file in the same
folder, fsync, ``os.replace``), so an interrupted write leaves the previous checkpoint intact.
On load every key is checked for shape and dtype against the model rebuilt from its
configuration; any mismatch, a file that is not safetensors, a truncated one or one without
chainrule metadata raises :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.models import build_model, model_blueprint
from chainrule.optim import make_optimizer
from chainrule.tensorfile import (
    FORMAT_VERSION,
    CheckpointError,
    check_section,
    read_tensor_file,
    section,
    write_tensor_file,
)

__all__ = [
    "CHECKPOINT_NAME",
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "load_checkpoint",
    "load_model",
    "resolve_checkpoint",
    "save_checkpoint",
]

#: The checkpoint's file name inside a run folder.
CHECKPOINT_NAME = "model.safetensors"
_PREFIXES = ("param/", "buffer/", "optim/", "trainer/")


# --------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------


def save_checkpoint(
    path: str | os.PathLike[str],
    model: Any,
    optimizer: Any = None,
    *,
    rng: np.random.Generator | None = None,
    trainer_state: Mapping[str, Any] | None = None,
    trainer_tensors: Mapping[str, np.ndarray] | None = None,
    info: Mapping[str, Any] | None = None,
) -> Path:
    """Save ``model`` (and optionally its optimizer and training state) to ``path`` atomically.

    ``model`` needs ``params``, ``buffers`` and ``config``; ``optimizer`` needs ``config`` and
    ``state_dict()``. ``rng``'s state is stored so that training can resume exactly.
    ``trainer_state`` (JSON-able: epoch, iteration, history, ...) and ``trainer_tensors``
    (name → array) are what :class:`chainrule.train.Trainer` needs to resume; ``info`` is free
    JSON-able metadata (the CLI stores the data set's name). Returns the path.
    """
    tensors: dict[str, np.ndarray] = {}
    for prefix, arrays in (
        ("param/", model.params),
        ("buffer/", model.buffers),
        ("optim/", optimizer.state_dict() if optimizer is not None else {}),
        ("trainer/", trainer_tensors or {}),
    ):
        for name, value in arrays.items():
            tensors[prefix + name] = value
    meta = {
        "model": dict(model.config),
        "optimizer": dict(optimizer.config) if optimizer is not None else None,
        "rng_state": rng.bit_generator.state if rng is not None else None,
        "trainer": dict(trainer_state) if trainer_state is not None else None,
        "info": dict(info) if info is not None else None,
    }
    return write_tensor_file(path, tensors, meta)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt ``model``, its ``optimizer`` (or None) and metadata.

    ``metadata`` is the decoded ``"chainrule"`` JSON; ``trainer_tensors`` the ``trainer/``
    arrays (name without the prefix).
    """

    path: Path
    model: Any
    optimizer: Any
    metadata: dict[str, Any]
    trainer_tensors: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def trainer_state(self) -> dict[str, Any] | None:
        return self.metadata.get("trainer")

    @property
    def rng_state(self) -> dict[str, Any] | None:
        return self.metadata.get("rng_state")

    @property
    def info(self) -> dict[str, Any]:
        return self.metadata.get("info") or {}

    @property
    def epoch(self) -> int | None:
        return (self.trainer_state or {}).get("epoch")

    @property
    def iteration(self) -> int | None:
        return (self.trainer_state or {}).get("iteration")

    @property
    def history(self) -> list[dict[str, Any]]:
        return list((self.trainer_state or {}).get("history", []))


def resolve_checkpoint(path: str | os.PathLike[str]) -> Path:
    """``path`` itself if it is a file; ``path/model.safetensors`` if it is a run folder."""
    path = Path(os.path.expanduser(os.fspath(path)))
    if path.is_dir():
        candidate = path / CHECKPOINT_NAME
        if not candidate.is_file():
            raise CheckpointError(f"{path}: the folder holds no {CHECKPOINT_NAME} (is it a chainrule run folder?)")
        return candidate
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file or run folder")
    return path


def load_checkpoint(path: str | os.PathLike[str], *, rng: np.random.Generator | None = None) -> Checkpoint:
    """Load a checkpoint (a ``.safetensors`` file or a run folder holding ``model.safetensors``).

    The model is rebuilt from its stored config and its parameters and buffers are loaded
    after checking every key's shape and dtype; the optimizer is rebuilt and its state loaded
    when the file has one. ``rng``, if given, is the Generator the rebuilt model draws from
    (e.g. for dropout); its state is then set to the saved one, so training resumes exactly.
    Raises :class:`CheckpointError` for anything that is not a valid chainrule checkpoint.
    """
    path = resolve_checkpoint(path)
    meta, tensors = read_tensor_file(path)

    unknown = [k for k in tensors if not k.startswith(_PREFIXES)]
    if unknown:
        raise CheckpointError(f"{path}: unexpected tensor {unknown[0]!r} (keys must start with {', '.join(_PREFIXES)})")

    config = meta.get("model")
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: metadata lacks the model configuration ('model')")
    for key in ("rng_state", "trainer", "info"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise CheckpointError(
                f"{path}: its metadata {key!r} must be an object or null, got {type(meta[key]).__name__}"
            )
    params = section(tensors, "param/")
    buffers = section(tensors, "buffer/")
    # The configuration is checked against the stored tensors before the model is built, so a
    # small file whose config says hidden_size=10**9 is refused without allocating anything.
    try:
        expected_params, expected_buffers = model_blueprint(config)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild the model from its configuration: {exc}") from exc
    check_section(path, "param/", params, expected_params)
    check_section(path, "buffer/", buffers, expected_buffers)
    try:
        model = build_model(config, seed=rng if rng is not None else 0)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild the model from its configuration: {exc}") from exc
    check_section(path, "param/", params, model.params)
    check_section(path, "buffer/", buffers, model.buffers)
    for name, value in params.items():
        model.params[name] = value
    current_buffers = model.buffers
    for name, value in buffers.items():
        np.copyto(current_buffers[name], value)

    optimizer = None
    optim_config = meta.get("optimizer")
    optim_state = section(tensors, "optim/")
    if optim_config is not None:
        optimizer = _rebuild_optimizer(path, optim_config, optim_state, model.params)
    elif optim_state:
        raise CheckpointError(f"{path}: holds optimizer state ('optim/...') but no optimizer configuration")

    rng_state = meta.get("rng_state")
    if rng is not None and rng_state is not None:
        try:
            rng.bit_generator.state = rng_state
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            raise CheckpointError(f"{path}: cannot restore the random generator's state: {exc}") from None
        if rng.bit_generator.state != rng_state:  # e.g. a float where the state holds integers
            raise CheckpointError(
                f"{path}: the random generator's state is not one a {type(rng.bit_generator).__name__} "
                "generator can have (it does not read back as stored)"
            )

    trainer_tensors = {k: np.array(v) for k, v in section(tensors, "trainer/").items()}
    return Checkpoint(path=path, model=model, optimizer=optimizer, metadata=meta, trainer_tensors=trainer_tensors)


def load_model(path: str | os.PathLike[str]) -> Any:
    """The trained model stored in a checkpoint file or run folder (see :func:`load_checkpoint`)."""
    return load_checkpoint(path).model


def _rebuild_optimizer(path: Path, config: Any, state: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> Any:
    if not isinstance(config, dict) or not isinstance(config.get("name"), str):
        raise CheckpointError(f"{path}: the optimizer configuration must be an object with a 'name'")
    # Per-parameter state ("m/W1", "v/W1", ...) must have its parameter's shape.
    for key, value in state.items():
        name = key.rsplit("/", 1)[-1]
        if "/" in key and name in params and value.shape != np.shape(params[name]):
            raise CheckpointError(
                f"{path}: tensor optim/{key} has shape {value.shape}; "
                f"parameter {name} has shape {np.shape(params[name])}"
            )
    kwargs = {k: v for k, v in config.items() if k != "name"}
    try:
        optimizer = make_optimizer(config["name"], **kwargs)
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild optimizer {config['name']!r}: {exc}") from exc
    try:
        optimizer.load_state_dict({k: np.array(v) for k, v in state.items()})
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{path}: the optimizer state does not fit {config['name']!r}: {exc}") from exc
    return optimizer
