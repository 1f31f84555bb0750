"""The IDX file format and the four-file layout of an MNIST-style data set.

An IDX file is a header (two zero bytes, a type code, the number of dimensions, then each
dimension as a big-endian uint32) followed by the payload; the files may be gzipped. A data set
is four such files (:data:`IDX_FILES`): training and test images ``(N, rows, cols)`` and labels
``(N,)``. A file counts as official when it matches its :class:`Digest`.

Files are read by :func:`read_idx` in a stream: the header first, then exactly the payload it
declares (a raw file's size is checked before its payload is read; a gzipped file is inflated
no further than the declared size), so no file makes chainrule allocate more than its header
declares and its size can hold. The sibling modules call :func:`read_idx` through this module
(``idx.read_idx``), so replacing it here (a test's spy) replaces it everywhere.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from chainrule._files import regular_file_size
from chainrule.datasets.errors import DatasetError

__all__ = [
    "IDX_FILES",
    "SPLITS",
    "Digest",
    "IdxFile",
    "IdxReadError",
    "assemble",
    "digest_match",
    "digest_ok",
    "gzip_bound",
    "parse_idx",
    "read_idx",
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
_CHUNK = 1 << 16
# Deflate's best ratio (a stream of one repeated byte): no gzip file holds more content than this.
_MAX_DEFLATE_RATIO = 1032


class Digest(NamedTuple):
    """Known digests of one IDX file: MD5 of the upstream gzip file, SHA-256 of the IDX bytes, and
    ``size``, the number of IDX bytes (header and payload, decompressed), which bounds a download
    and what is inflated."""

    gzip_md5: str | None
    sha256: str | None
    size: int | None = None


def split_files(split: str | None) -> tuple[str, ...]:
    """The IDX files (base names) one split needs: images then labels; all four for ``split=None``."""
    if split is None:
        return IDX_FILES
    prefix = SPLITS[split]
    return (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")


class IdxReadError(DatasetError):
    """An IDX file could not be read at all (missing, not a regular file, no permission, I/O
    error), as opposed to read and found wrong: such a file is never deleted."""


class IdxFile(NamedTuple):
    """An IDX file read by :func:`read_idx`: its ``array`` (uint8, the dims it declares), its
    ``header`` bytes, and the MD5 of the gzip file (None when the file is not gzipped)."""

    array: np.ndarray
    header: bytes
    gzip_md5: str | None

    @property
    def size(self) -> int:
        """The number of IDX bytes (header and payload)."""
        return len(self.header) + self.array.size

    def sha256(self) -> str:
        """SHA-256 of the IDX bytes (header then payload), as :class:`Digest` records it."""
        digest = hashlib.sha256(self.header)
        digest.update(memoryview(np.ascontiguousarray(self.array)).cast("B"))
        return digest.hexdigest()


def gzip_bound(size: int) -> int:
    """The most bytes a gzip file of ``size`` bytes of content can take: zlib's deflateBound for
    stored blocks, plus room for a gzip header carrying a file name or comment."""
    return size + (size >> 12) + (size >> 14) + (size >> 25) + 4096


def read_idx(path: Path, *, expected_size: int | None = None) -> IdxFile:
    """Read and parse the IDX file ``path`` (gunzipped when it has gzip magic), in a stream.

    The header is read first and checked (see :func:`parse_idx`); a raw file's size must then be
    what the header declares before its payload is read, and a gzipped one is inflated only up
    to the declared size (one byte more tells trailing data apart), never more, into one array
    of that size. A header declaring more than its gzip file could hold (deflate inflates at
    most 1032:1) is refused before anything is allocated. ``expected_size``: the IDX size an
    official file has; a header declaring another is refused as soon as it is read. Raises
    :class:`DatasetError` naming ``path`` (:class:`IdxReadError` when it cannot be read at all).
    """
    size = regular_file_size(path, "IDX", error=IdxReadError)
    try:
        with open(path, "rb") as f:
            magic = f.read(2)
            f.seek(0)
            if magic == _GZIP_MAGIC:
                return _read_gzip(f, path, size, expected_size)
            if path.suffix == ".gz":
                raise DatasetError(f"{path}: named .gz but is not gzip data (first bytes {f.read(4).hex()})")
            return _read_raw(f, path, size, expected_size)
    except OSError as exc:
        raise IdxReadError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def parse_idx(data: bytes, path: Path) -> np.ndarray:
    """Parse IDX bytes of unsigned bytes (type code 0x08) into a uint8 array of the dims it declares.

    Header: two zero bytes, type code, number of dims (1 or 3), then each dim as a big-endian
    uint32, none of them 0. The payload must hold exactly prod(dims) bytes. ``path`` only names
    the file in error messages.
    """
    header_len = _header_length(data[:4], path, len(data))
    if len(data) < header_len:
        raise DatasetError(f"{path}: truncated IDX header ({len(data)} bytes, expected at least {header_len})")
    dims = _dims(data[:header_len], path)
    _check_total(dims, header_len, len(data), path)
    # Copy out of the read-only bytes buffer so callers get an ordinary, writable array.
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(dims).copy()


def _header_length(head: bytes, path: Path, available: int) -> int:
    """The header's length, from its first four bytes (``available``: the bytes there are)."""
    if len(head) < 4:
        raise DatasetError(f"{path}: too short for an IDX header ({available} bytes)")
    if head[0] != 0 or head[1] != 0:
        raise DatasetError(
            f"{path}: bad IDX magic number 0x{head[:4].hex()}, expected 0x00000801 (labels) or 0x00000803 (images)"
        )
    if head[2] != _IDX_UINT8:
        raise DatasetError(f"{path}: IDX type code 0x{head[2]:02x} is not supported, expected 0x08 (unsigned byte)")
    ndim = head[3]
    if ndim not in (1, 3):
        raise DatasetError(f"{path}: IDX file has {ndim} dimensions, expected 1 (labels) or 3 (images)")
    return 4 + 4 * ndim


def _dims(header: bytes, path: Path) -> tuple[int, ...]:
    dims = tuple(int.from_bytes(header[4 + 4 * i : 8 + 4 * i], "big") for i in range(header[3]))
    if 0 in dims:
        what = "no samples (N = 0)" if dims[0] == 0 else "images of no pixels"
        raise DatasetError(f"{path}: holds {what}: IDX dimensions {dims}")
    return dims


def _check_total(dims: tuple[int, ...], header_len: int, actual: int, path: Path) -> None:
    expected = header_len + math.prod(dims)  # Python ints: absurd dims cannot overflow
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise DatasetError(f"{path}: {what}: dimensions {dims} need {expected} bytes, the file has {actual}")


def _check_expected(dims: tuple[int, ...], header_len: int, expected_size: int | None, path: Path) -> None:
    declared = header_len + math.prod(dims)
    if expected_size is not None and declared != expected_size:
        raise DatasetError(
            f"{path}: its header declares {declared} bytes of IDX data (dimensions {dims}), "
            f"the official file has {expected_size}"
        )


def _read_raw(f: BinaryIO, path: Path, size: int, expected_size: int | None) -> IdxFile:
    head = f.read(4)
    header_len = _header_length(head, path, size)
    if size < header_len:
        raise DatasetError(f"{path}: truncated IDX header ({size} bytes, expected at least {header_len})")
    header = head + f.read(header_len - 4)
    dims = _dims(header, path)
    _check_expected(dims, header_len, expected_size, path)
    _check_total(dims, header_len, size, path)  # the file's size, before a byte of payload is read
    array = np.empty(math.prod(dims), dtype=np.uint8)
    got = f.readinto(memoryview(array))
    if got != array.size:  # the file shrank after its size was checked
        _check_total(dims, header_len, header_len + (got or 0), path)
    return IdxFile(array.reshape(dims), header, None)


def _read_gzip(f: BinaryIO, path: Path, size: int, expected_size: int | None) -> IdxFile:
    stream = _GunzipStream(f, path)
    head = stream.read(4)
    header_len = _header_length(head, path, len(head))
    header = head + stream.read(header_len - 4)
    if len(header) < header_len:
        raise DatasetError(f"{path}: truncated IDX header ({len(header)} bytes, expected at least {header_len})")
    dims = _dims(header, path)
    _check_expected(dims, header_len, expected_size, path)
    payload = math.prod(dims)
    if payload > size * _MAX_DEFLATE_RATIO:
        raise DatasetError(
            f"{path}: truncated: dimensions {dims} need {header_len + payload} bytes, "
            f"more than a gzip file of {size} bytes can hold"
        )
    array = np.empty(payload, dtype=np.uint8)
    view = memoryview(array)
    filled = 0
    while filled < payload:
        chunk = stream.read(min(payload - filled, _CHUNK))
        if not chunk:
            _check_total(dims, header_len, header_len + filled, path)
        view[filled : filled + len(chunk)] = chunk
        filled += len(chunk)
    if stream.read(1):  # one byte more than declared: never inflate further
        raise DatasetError(
            f"{path}: has trailing bytes: dimensions {dims} need {header_len + payload} bytes, "
            "the decompressed file has more"
        )
    return IdxFile(array.reshape(dims), header, stream.md5.hexdigest())


class _GunzipStream:
    """The content of a gzip file (its members one after another, as ``gzip.decompress``
    reads them), inflated on demand: ``read(n)`` inflates at most ``n`` bytes. ``md5``: of the
    compressed bytes read so far (all of them once ``read`` has returned ``b""``)."""

    def __init__(self, f: BinaryIO, path: Path) -> None:
        self._f, self._path = f, path
        self._inflate = zlib.decompressobj(wbits=31)
        self._pending = b""  # compressed bytes not yet given to zlib
        self.md5 = hashlib.md5()

    def _next_input(self) -> bytes:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        data = self._f.read(_CHUNK)
        self.md5.update(data)
        return data

    def read(self, n: int) -> bytes:
        parts: list[bytes] = []
        got = 0
        try:
            while got < n:
                if self._inflate.eof:
                    rest = self._inflate.unused_data or self._next_input()
                    if not rest:
                        break  # the end of the last member: the end of the content
                    self._inflate = zlib.decompressobj(wbits=31)  # another member follows
                    self._pending = rest
                    continue
                data = self._next_input()
                # max_length bounds what one call inflates; the input it did not use waits.
                out = self._inflate.decompress(data, n - got)
                self._pending = self._inflate.unconsumed_tail
                if not data and not out and not self._inflate.eof:
                    raise DatasetError(f"{self._path}: corrupt or truncated gzip data (the stream ends early)")
                parts.append(out)
                got += len(out)
        except zlib.error as exc:
            raise DatasetError(f"{self._path}: corrupt or truncated gzip data ({exc})") from exc
        return b"".join(parts)


def digest_ok(digest: Digest | None, gz_md5: str | None, data: bytes | IdxFile) -> bool:
    """Whether a file is official: its gzip MD5 ``gz_md5`` or the SHA-256 of its IDX bytes
    ``data`` (or of the :class:`IdxFile` read) matches ``digest`` (so recompressed copies pass
    too). No digest: not official."""
    return digest_match(digest, gz_md5, data) is not None


def digest_match(digest: Digest | None, gz_md5: str | None, data: bytes | IdxFile) -> str | None:
    """Which digest of an official file matches (see :func:`digest_ok`): "MD5 of the gzip file"
    or "SHA-256 of the content"; None when neither does (or the size is not the official one)."""
    if digest is None:
        return None
    size = data.size if isinstance(data, IdxFile) else len(data)
    if digest.size is not None and size != digest.size:
        return None
    if gz_md5 is not None and digest.gzip_md5 is not None and gz_md5 == digest.gzip_md5:
        return "MD5 of the gzip file"
    if digest.sha256 is not None:
        sha256 = data.sha256() if isinstance(data, IdxFile) else hashlib.sha256(data).hexdigest()
        if sha256 == digest.sha256:
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
