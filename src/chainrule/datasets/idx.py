"""The IDX file format and the four-file layout of an MNIST-style data set.

An IDX file is a header (two zero bytes, a type code, the number of dimensions, then each
dimension as a big-endian uint32) followed by the payload; the files may be gzipped. A data set
is four such files (:data:`IDX_FILES`): training and test images ``(N, rows, cols)`` and labels
``(N,)``. A file counts as official when it matches its :class:`Digest`.

The sibling modules call :func:`read_idx_bytes` and :func:`parse_idx` through this module
(``idx.parse_idx``), so replacing them here (a test's spy) replaces them everywhere.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np

from chainrule.datasets.errors import DatasetError

__all__ = [
    "IDX_FILES",
    "SPLITS",
    "Digest",
    "assemble",
    "digest_match",
    "digest_ok",
    "parse_idx",
    "read_idx_bytes",
    "split_files",
]

#: The four IDX files of an MNIST-style data set (base names; each may also carry ``.gz``).
IDX_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
#: The splits of a data set and the prefix of their files.
SPLITS: dict[str, str] = {"train": "train", "test": "t10k"}

_IDX_UINT8 = 0x08
_GZIP_MAGIC = b"\x1f\x8b"


class Digest(NamedTuple):
    """Known digests of one IDX file: MD5 of the upstream gzip file, SHA-256 of the IDX bytes."""

    gzip_md5: str | None
    sha256: str | None


def split_files(split: str | None) -> tuple[str, ...]:
    """The IDX files (base names) one split needs: images then labels; all four for ``split=None``."""
    if split is None:
        return IDX_FILES
    prefix = SPLITS[split]
    return (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")


def read_idx_bytes(path: Path) -> tuple[bytes, str | None]:
    """The IDX bytes of ``path`` (gunzipped when it has a ``.gz`` suffix or gzip magic), and
    the MD5 of the gzip file (None when the file is not gzipped)."""
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if blob[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(blob), hashlib.md5(blob).hexdigest()
        except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
            raise DatasetError(f"{path}: corrupt or truncated gzip data ({exc})") from exc
    if path.suffix == ".gz":
        raise DatasetError(f"{path}: named .gz but is not gzip data (first bytes {blob[:4].hex()})")
    return blob, None


def parse_idx(data: bytes, path: Path) -> np.ndarray:
    """Parse IDX bytes of unsigned bytes (type code 0x08) into a uint8 array of the dims it declares.

    Header: two zero bytes, type code, number of dims (1 or 3), then each dim as a big-endian
    uint32. The payload must hold exactly prod(dims) bytes. ``path`` only names the file in
    error messages.
    """
    if len(data) < 4:
        raise DatasetError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0:
        raise DatasetError(
            f"{path}: bad IDX magic number 0x{data[:4].hex()}, expected 0x00000801 (labels) or 0x00000803 (images)"
        )
    if data[2] != _IDX_UINT8:
        raise DatasetError(f"{path}: IDX type code 0x{data[2]:02x} is not supported, expected 0x08 (unsigned byte)")
    ndim = data[3]
    if ndim not in (1, 3):
        raise DatasetError(f"{path}: IDX file has {ndim} dimensions, expected 1 (labels) or 3 (images)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path}: truncated IDX header ({len(data)} bytes, expected at least {header})")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(dims)  # Python ints: absurd dims cannot overflow
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise DatasetError(f"{path}: {what}: dimensions {dims} need {expected} bytes, the file has {len(data)}")
    # Copy out of the read-only bytes buffer so callers get an ordinary, writable array.
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def digest_ok(digest: Digest | None, gz_md5: str | None, data: bytes) -> bool:
    """Whether a file is official: its gzip MD5 ``gz_md5`` or the SHA-256 of its IDX bytes
    ``data`` matches ``digest`` (so recompressed copies pass too). No digest: not official."""
    return digest_match(digest, gz_md5, data) is not None


def digest_match(digest: Digest | None, gz_md5: str | None, data: bytes) -> str | None:
    """Which digest of an official file matches (see :func:`digest_ok`): "MD5 of the gzip file"
    or "SHA-256 of the content"; None when neither does."""
    if digest is None:
        return None
    if gz_md5 is not None and digest.gzip_md5 is not None and gz_md5 == digest.gzip_md5:
        return "MD5 of the gzip file"
    if digest.sha256 is not None and hashlib.sha256(data).hexdigest() == digest.sha256:
        return "SHA-256 of the content"
    return None


def assemble(arrays: Mapping[str, np.ndarray], files: Mapping[str, Path]) -> dict[str, np.ndarray]:
    """Name the parsed arrays of the files: x_train, x_test ``(N, rows, cols)``, t_train, t_test ``(N,)``.

    ``arrays`` and ``files`` are keyed by the base names in :data:`IDX_FILES`: all four, or the
    two of one split (then only that split's arrays are returned). Checks the roles (images
    ndim 3, labels ndim 1), that images and labels agree in count and that training and test
    images have the same size; ``files`` names the culprits in the messages.
    """
    raw: dict[str, np.ndarray] = {}
    for split, prefix in SPLITS.items():
        images_name, labels_name = f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"
        if images_name not in arrays and labels_name not in arrays:
            continue
        x, t = arrays[images_name], arrays[labels_name]
        if x.ndim != 3:
            raise DatasetError(
                f"{files[images_name]}: expected an image file of 3 dimensions (N, rows, cols), got shape {x.shape}"
            )
        if t.ndim != 1:
            raise DatasetError(f"{files[labels_name]}: expected a label file of 1 dimension (N,), got shape {t.shape}")
        if x.shape[0] != t.shape[0]:
            raise DatasetError(
                f"{files[images_name]} holds {x.shape[0]} images but {files[labels_name]} holds {t.shape[0]} labels"
            )
        raw[f"x_{split}"], raw[f"t_{split}"] = x, t
    if "x_train" in raw and "x_test" in raw and raw["x_train"].shape[1:] != raw["x_test"].shape[1:]:
        raise DatasetError(
            f"training images are {raw['x_train'].shape[1:]} but test images are {raw['x_test'].shape[1:]} "
            f"({files['train-images-idx3-ubyte']}, {files['t10k-images-idx3-ubyte']})"
        )
    return raw
