"""The checkpoint file format: safetensors tensors plus chainrule's JSON metadata, read and written safely.

A file is ``safetensors`` (never pickle; nothing is executed on load): named tensors and the
metadata entry ``"chainrule"``, a JSON object with at least ``format_version`` and
``chainrule_version``. :func:`write_tensor_file` writes one atomically; :func:`read_tensor_file`
parses the header by hand first, so every kind of damage (not safetensors, truncated, no
chainrule metadata, a format from a newer chainrule, a pickle file) is a :class:`CheckpointError`
naming the file. :mod:`chainrule.checkpoint` builds full checkpoints on this; networks'
``save_params``/``load_params`` (the book's) use it directly.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from chainrule._checks import is_int
from chainrule._files import atomic_write, read_regular_file
from chainrule._version import __version__

__all__ = [
    "FORMAT_VERSION",
    "MAX_FILE_BYTES",
    "CheckpointError",
    "check_section",
    "read_tensor_file",
    "section",
    "write_tensor_file",
]

#: Bump when the layout changes; files with a newer version are refused with a clear message.
FORMAT_VERSION = 1
_META_KEY = "chainrule"
# A header larger than this is not one chainrule wrote (it guards against reading garbage lengths).
_MAX_HEADER = 100 * 1024 * 1024
#: The largest checkpoint read (the whole file is read into memory): checked before a byte is
#: read, so a 64 GiB sparse file, a FIFO or /dev/zero is refused at once.
MAX_FILE_BYTES = 4 * 1024**3


class CheckpointError(ValueError):
    """A file is not a chainrule checkpoint, is damaged, or does not match its configuration."""


def write_tensor_file(path: str | os.PathLike[str], tensors: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> Path:
    """Write ``tensors`` (name → array) and the JSON ``meta`` (``format_version`` and
    ``chainrule_version`` added first) to ``path`` as safetensors, atomically."""
    import safetensors.numpy

    path = Path(path)
    full = {"format_version": FORMAT_VERSION, "chainrule_version": __version__, **meta}
    try:
        text = json.dumps(full, allow_nan=True)
    except TypeError as exc:
        raise ValueError(f"save_checkpoint: metadata for {path} is not JSON-serialisable: {exc}") from exc
    arrays = {k: np.asarray(v, order="C") for k, v in tensors.items()}  # (ascontiguousarray turns 0-d into 1-d)
    return atomic_write(path, safetensors.numpy.save(arrays, metadata={_META_KEY: text}))


def read_tensor_file(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(metadata, tensors)`` of a chainrule tensor file; :class:`CheckpointError` for anything else."""
    data = read_regular_file(path, "checkpoint", limit=MAX_FILE_BYTES, error=CheckpointError)
    try:
        meta = _read_metadata(data, path)
    except CheckpointError:
        if _looks_like_pickle(data):  # e.g. the book's params.pkl
            raise CheckpointError(
                f"{path}: a pickle file; chainrule never unpickles (loading a pickle can run any code). "
                "Save the parameters with chainrule (save_params or a checkpoint) and load that file"
            ) from None
        raise
    return meta, _read_tensors(data, path)


def _looks_like_pickle(data: bytes) -> bool:
    """A pickle: protocol 2-5 opens with 0x80 and the protocol number, and every pickle ends with '.'."""
    return data.endswith(b".") and (data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"))


def _read_metadata(data: bytes, path: Path) -> dict[str, Any]:
    """Parse the safetensors header by hand, so every kind of damage gets a precise message."""
    not_st = f"{path}: not a safetensors file"
    if len(data) < 8:
        raise CheckpointError(f"{not_st} (only {len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n < 2 or n > _MAX_HEADER:
        raise CheckpointError(f"{not_st} (implausible header length {n})")
    if 8 + n > len(data):
        raise CheckpointError(
            f"{path}: truncated or not a safetensors file "
            f"(the header claims {n} bytes, only {len(data) - 8} follow the length)"
        )
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{not_st} (its header is not JSON: {exc})") from exc
    except RecursionError:
        raise CheckpointError(f"{not_st} (its header is JSON nested too deeply to be one)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{not_st} (its header is not a JSON object)")
    end = 0
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise CheckpointError(f"{not_st} (tensor {key!r} has no valid data_offsets)")
        end = max(end, offsets[1])
    if 8 + n + end > len(data):
        raise CheckpointError(
            f"{path}: truncated checkpoint (its tensors need {8 + n + end} bytes, the file has {len(data)})"
        )
    raw_meta = header.get("__metadata__")
    if not isinstance(raw_meta, dict) or _META_KEY not in raw_meta:
        raise CheckpointError(f"{path}: a safetensors file but not a chainrule checkpoint (no {_META_KEY!r} metadata)")
    try:
        meta = json.loads(raw_meta[_META_KEY])
    except (TypeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: its {_META_KEY!r} metadata is not valid JSON: {exc}") from exc
    except RecursionError:
        raise CheckpointError(f"{path}: its {_META_KEY!r} metadata is JSON nested too deeply") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: its {_META_KEY!r} metadata is not a JSON object")
    version = meta.get("format_version")
    if not is_int(version):
        raise CheckpointError(f"{path}: its metadata lacks an integer 'format_version'")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {version} is newer than this chainrule reads ({FORMAT_VERSION}); "
            f"it was written by chainrule {meta.get('chainrule_version', '?')}"
        )
    return meta


def _read_tensors(data: bytes, path: Path) -> dict[str, np.ndarray]:
    import safetensors.numpy

    try:
        return safetensors.numpy.load(data)
    except Exception as exc:  # the Rust parser raises its own error types
        raise CheckpointError(f"{path}: damaged safetensors data: {exc}") from exc


def section(tensors: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def check_section(path: Path, prefix: str, found: Mapping[str, np.ndarray], expected: Mapping[str, Any]) -> None:
    """Keys, shapes and dtypes of ``found`` must be exactly those of ``expected``."""
    for name, ref in expected.items():
        ref = np.asarray(ref)
        if name not in found:
            raise CheckpointError(
                f"{path}: missing tensor {prefix}{name} (expected shape {ref.shape}, dtype {ref.dtype})"
            )
        got = found[name]
        if got.shape != ref.shape or got.dtype != ref.dtype:
            raise CheckpointError(
                f"{path}: tensor {prefix}{name} has shape {got.shape}, dtype {got.dtype}; "
                f"the model's configuration expects shape {ref.shape}, dtype {ref.dtype}"
            )
    extra = [name for name in found if name not in expected]
    if extra:
        raise CheckpointError(f"{path}: unexpected tensor {prefix}{extra[0]} (the model has no such entry)")
