"""Data sets for the book's experiments: MNIST, Fashion-MNIST and a built-in 2-D spiral.

Every loader returns the book's shape, ``(x_train, t_train), (x_test, t_test)``:

- images ``x``: ``(N, rows*cols)`` when ``flatten=True``, else ``(N, 1, rows, cols)``; values in
  [0, 1] in ``dtype`` when ``normalize=True``, else the raw 0-255 values as ``uint8``;
- labels ``t``: class indices ``(N,)`` int64, or one-hot ``(N, C)`` in ``dtype`` when
  ``one_hot_label=True``.

MNIST-style files are looked for, in this order: ``data_dir`` (if given), ``$CHAINRULE_DATA``
(first its ``<dataset>/`` subfolder, then the folder itself), the converted ``.npz`` and the
downloaded files in the user cache (``$XDG_CACHE_HOME/chainrule/<dataset>/``, else
``~/.cache/chainrule/<dataset>/``), the system folders in :data:`SYSTEM_DIRS` (Debian's
``dataset-fashion-mnist`` package), and finally the mirrors in :data:`MIRRORS` when
``download=True``. Files in folders the user names are checked structurally only (so you can
bring your own IDX data); files in the cache, in system folders and downloaded files must also
match :data:`DIGESTS`. Every problem with the data raises :class:`DatasetError`.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import sys
import tempfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from chainrule._rng import as_generator

__all__ = [
    "CLASS_NAMES",
    "DATASET_NAMES",
    "DIGESTS",
    "MIRRORS",
    "SYSTEM_DIRS",
    "IDX_FILES",
    "TIMEOUT",
    "DatasetError",
    "Digest",
    "cache_dir",
    "load_dataset",
    "load_fashion_mnist",
    "load_mnist",
    "load_spiral",
]

Split = tuple[np.ndarray, np.ndarray]


class DatasetError(Exception):
    """A data set could not be found, downloaded, verified or parsed.

    The message names the file, folder or URL concerned and what was wrong with it.
    """


# --------------------------------------------------------------------------------------------
# Constants (module level so that tests and unusual setups can monkeypatch them)
# --------------------------------------------------------------------------------------------

DATASET_NAMES: tuple[str, ...] = ("mnist", "fashion-mnist", "spiral")

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(i) for i in range(10)),
    "fashion-mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    # load_spiral's default n_classes=3; for n classes the names are "0" .. str(n - 1).
    "spiral": ("0", "1", "2"),
}

#: The four IDX files of an MNIST-style data set (base names; each may also carry ``.gz``).
IDX_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

_PRETTY = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}

#: Download mirrors, tried in order; ``<mirror><file>.gz`` is fetched.
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://raw.githubusercontent.com/fgnt/mnist/master/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
}

#: Read-only folders where a distribution may have installed the data (checked against DIGESTS).
SYSTEM_DIRS: dict[str, tuple[Path, ...]] = {
    "mnist": (Path("/usr/share/datasets/mnist"), Path("/usr/local/share/datasets/mnist")),
    "fashion-mnist": (
        Path("/usr/share/datasets/fashion-mnist"),
        Path("/usr/local/share/datasets/fashion-mnist"),
    ),
}


class Digest(NamedTuple):
    """Known digests of one IDX file: MD5 of the upstream gzip file, SHA-256 of the IDX bytes."""

    gzip_md5: str | None
    sha256: str | None


#: A file is genuine when its gzip MD5 or the SHA-256 of its decompressed bytes matches, so
#: recompressed copies (Debian's) pass too.
DIGESTS: dict[str, dict[str, Digest]] = {
    "mnist": {
        "train-images-idx3-ubyte": Digest("f68b3c2dcbeaaa9fbdd348bbdeb94873", None),
        "train-labels-idx1-ubyte": Digest(
            "d53e105ee54ea40749a09fcbcd1e9432",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        ),
        "t10k-images-idx3-ubyte": Digest(
            "9fb629c4189551a2d022fa330f9573f3",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
        "t10k-labels-idx1-ubyte": Digest(
            "ec29112dd5afa0611ce80d1b7f02629c",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": Digest(
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        ),
        "train-labels-idx1-ubyte": Digest(
            "25c81989df183df01b3e8a0aad5dffbe",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        ),
        "t10k-images-idx3-ubyte": Digest(
            "bef4ecab320f06d8554ea6380940ec79",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        ),
        "t10k-labels-idx1-ubyte": Digest(
            "bb300cfdad3c16e7a12a480ee83cd310",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
    },
}

#: Seconds a download may wait for the connection or for the next chunk of data.
TIMEOUT: float = 30.0
_CHUNK = 1 << 16
# Bump when the layout of the converted .npz changes, so old caches are never read.
_NPZ_FORMAT = 1
_NPZ_KEYS = ("x_train", "t_train", "x_test", "t_test")
_IDX_UINT8 = 0x08
_GZIP_MAGIC = b"\x1f\x8b"


# --------------------------------------------------------------------------------------------
# Public loaders
# --------------------------------------------------------------------------------------------


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    dtype: Any = np.float32,
    download: bool = True,
) -> tuple[Split, Split]:
    """Load MNIST (60,000 training and 10,000 test images of handwritten digits, 28x28).

    Returns ``(x_train, t_train), (x_test, t_test)``:
    x ``(N, 784)`` (``flatten=True``) or ``(N, 1, 28, 28)``; float ``dtype`` in [0, 1] when
    ``normalize=True``, else ``uint8`` 0-255 (``dtype`` ignored). t ``(N,)`` int64 class
    indices, or ``(N, C)`` one-hot in ``dtype`` with C = max(10, largest label + 1).

    ``data_dir`` names a folder holding the four IDX files (gzipped or not); it must be
    complete. Without it the data are looked up as the module docstring describes and, when
    ``download=True``, downloaded into the user cache. Raises :class:`DatasetError`.
    """
    return _load_idx_dataset("mnist", normalize, flatten, one_hot_label, data_dir, dtype, download)


def load_fashion_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    dtype: Any = np.float32,
    download: bool = True,
) -> tuple[Split, Split]:
    """Load Fashion-MNIST (Zalando's 28x28 clothing images, 60,000 train / 10,000 test).

    Same arguments, shapes and conventions as :func:`load_mnist`; class names are in
    ``CLASS_NAMES["fashion-mnist"]``. On Debian, ``apt-get install dataset-fashion-mnist``
    provides the files offline.
    """
    return _load_idx_dataset("fashion-mnist", normalize, flatten, one_hot_label, data_dir, dtype, download)


def load_spiral(
    n_per_class: int = 100,
    n_classes: int = 3,
    *,
    seed: int | np.random.Generator | None = 0,
    one_hot_label: bool = False,
    dtype: Any = np.float32,
    test_fraction: float = 0.2,
) -> tuple[Split, Split]:
    """Built-in 2-D spiral data set (CS231n style): ``n_classes`` interleaved noisy arms.

    Point i of arm j lies at radius r = i / (n_per_class - 1) and angle
    4j + 4r + 0.2·noise; a 2-100-3 ReLU network fits it to ~99 % train accuracy.
    Each class is split on its own (stratified): ``round(test_fraction · n_per_class)``
    points (at least one) go to the test set; both sets are shuffled. Deterministic for a
    given integer ``seed``.

    Returns ``(x_train, t_train), (x_test, t_test)``: x ``(N, 2)`` in ``dtype`` (float32),
    t ``(N,)`` int64, or ``(N, n_classes)`` one-hot in ``dtype``.
    """
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, (int, np.integer)) or n_per_class < 2:
        raise ValueError(f"load_spiral: n_per_class must be an integer >= 2, got {n_per_class!r}")
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise ValueError(f"load_spiral: n_classes must be an integer >= 2, got {n_classes!r}")
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"load_spiral: test_fraction must be in (0, 1), got {test_fraction!r}")
    dtype = _float_dtype(dtype, "load_spiral")
    rng = as_generator(seed)
    n_per_class, n_classes = int(n_per_class), int(n_classes)
    n_test = min(n_per_class - 1, max(1, round(test_fraction * n_per_class)))

    r = np.linspace(0.0, 1.0, n_per_class)
    train_idx, test_idx = [], []
    x = np.empty((n_per_class * n_classes, 2), dtype=np.float64)
    t = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    for j in range(n_classes):
        theta = np.linspace(4.0 * j, 4.0 * (j + 1), n_per_class) + 0.2 * rng.standard_normal(n_per_class)
        rows = slice(j * n_per_class, (j + 1) * n_per_class)
        x[rows, 0] = r * np.sin(theta)
        x[rows, 1] = r * np.cos(theta)
        order = j * n_per_class + rng.permutation(n_per_class)
        test_idx.append(order[:n_test])
        train_idx.append(order[n_test:])
    train = rng.permutation(np.concatenate(train_idx))
    test = rng.permutation(np.concatenate(test_idx))
    x = x.astype(dtype)
    t_train, t_test = t[train], t[test]
    if one_hot_label:
        t_train, t_test = _one_hot(t_train, n_classes, dtype), _one_hot(t_test, n_classes, dtype)
    return (x[train], t_train), (x[test], t_test)


def load_dataset(name: str, **kwargs: Any) -> tuple[Split, Split]:
    """Load a data set by name: one of :data:`DATASET_NAMES` ("mnist", "fashion-mnist", "spiral").

    Keyword arguments go to :func:`load_mnist`, :func:`load_fashion_mnist` or
    :func:`load_spiral`. An unknown name raises :class:`DatasetError` listing the valid ones.
    """
    loaders: dict[str, Callable[..., tuple[Split, Split]]] = {
        "mnist": load_mnist,
        "fashion-mnist": load_fashion_mnist,
        "spiral": load_spiral,
    }
    key = name.strip().lower().replace("_", "-") if isinstance(name, str) else name
    if key not in loaders:
        raise DatasetError(f"unknown data set {name!r}; expected one of: {', '.join(DATASET_NAMES)}")
    return loaders[key](**kwargs)


def cache_dir(dataset: str | None = None) -> Path:
    """The user cache folder: ``$XDG_CACHE_HOME/chainrule`` (else ``~/.cache/chainrule``),
    or its ``<dataset>/`` subfolder. Nothing is created."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says relative paths in $XDG_CACHE_HOME are invalid and must be ignored.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    root = base / "chainrule"
    return root / dataset if dataset else root


# --------------------------------------------------------------------------------------------
# Lookup: data_dir → $CHAINRULE_DATA → cache (.npz, then files) → system folders → download
# --------------------------------------------------------------------------------------------


def _load_idx_dataset(
    name: str,
    normalize: bool,
    flatten: bool,
    one_hot_label: bool,
    data_dir: str | os.PathLike[str] | None,
    dtype: Any,
    download: bool,
) -> tuple[Split, Split]:
    func = "load_" + name.replace("-", "_")
    if normalize or one_hot_label:
        dtype = _float_dtype(dtype, func)
    raw = _find_raw(name, data_dir, download)
    return _convert(raw, normalize, flatten, one_hot_label, dtype)


def _find_raw(name: str, data_dir: str | os.PathLike[str] | None, download: bool) -> dict[str, np.ndarray]:
    """Raw arrays x_* (N, rows, cols) uint8 and t_* (N,) uint8 from the first source that works."""
    pretty = _PRETTY[name]
    if data_dir is not None:
        folder = Path(os.path.expanduser(os.fspath(data_dir)))
        if not folder.is_dir():
            raise DatasetError(f"{pretty}: data_dir {str(folder)!r} is not a folder")
        files, missing = _find_files(folder)
        if missing:
            raise DatasetError(
                f"{pretty}: data_dir {str(folder)!r} lacks {', '.join(m + '[.gz]' for m in missing)}; "
                f"it needs all four IDX files: {', '.join(IDX_FILES)} (each gzipped or not)"
            )
        return _load_user_folder(folder, files)

    looked: list[str] = []  # what was looked at and why it did not serve, for the final error
    env = os.environ.get("CHAINRULE_DATA", "")
    if env:
        root = Path(os.path.expanduser(env))
        for folder in (root / name, root):
            files, missing = _find_files(folder)
            if not missing:
                return _load_user_folder(folder, files)
            looked.append(f"$CHAINRULE_DATA: {folder} ({_why_incomplete(folder, missing)})")
    else:
        looked.append("$CHAINRULE_DATA: not set")

    npz_path = _official_npz_path(name)
    raw = _read_npz(npz_path)
    if raw is not None:
        return raw

    cache = cache_dir(name)
    files, missing = _find_files(cache)
    if not missing:
        raw, bad = _load_verified_folder(name, files)
        if raw is not None:
            _write_npz(npz_path, raw)
            return raw
        for path in (files[b] for b in bad):
            # Our own cache: a file that fails verification would only fail again; drop it so
            # the download below replaces it.
            _unlink_quietly(path)
        looked.append(f"cache: {cache} (failed verification, removed: {'; '.join(bad.values())})")
    else:
        looked.append(f"cache: {cache} ({_why_incomplete(cache, missing)})")

    for folder in SYSTEM_DIRS.get(name, ()):
        files, missing = _find_files(folder)
        if missing:
            looked.append(f"system: {folder} ({_why_incomplete(folder, missing)})")
            continue
        raw, bad = _load_verified_folder(name, files)
        if raw is not None:
            _write_npz(npz_path, raw)
            return raw
        looked.append(f"system: {folder} (failed verification: {'; '.join(bad.values())})")

    if not download:
        raise DatasetError(
            f"{pretty} not found and download=False.\nLooked in:\n"
            + "".join(f"  - {line}\n" for line in looked)
            + _ways_out(name)
        )
    files = _download_missing(name, cache, looked)
    raw, bad = _load_verified_folder(name, files)
    if raw is None:  # pragma: no cover - downloads are verified before they are renamed
        raise DatasetError(f"{pretty}: downloaded files in {cache} failed verification: {'; '.join(bad.values())}")
    _write_npz(npz_path, raw)
    return raw


def _find_files(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Map each IDX base name to its file in ``folder`` (``name.gz`` preferred over ``name``)."""
    files: dict[str, Path] = {}
    missing: list[str] = []
    for base in IDX_FILES:
        for candidate in (folder / (base + ".gz"), folder / base):
            if candidate.is_file():
                files[base] = candidate
                break
        else:
            missing.append(base)
    return files, missing


def _why_incomplete(folder: Path, missing: list[str]) -> str:
    if not folder.is_dir():
        return "no such folder"
    return "missing " + ", ".join(missing)


def _ways_out(name: str) -> str:
    lines = [
        "Ways out:",
        f"  - pass data_dir= a folder holding the four IDX files ({', '.join(IDX_FILES)}, gzipped or not)",
        f"  - set $CHAINRULE_DATA to such a folder, or to a folder with a '{name}/' subfolder",
    ]
    if name == "fashion-mnist":
        lines.append("  - on Debian/Ubuntu: apt-get install dataset-fashion-mnist")
    lines.append(f"  - fetch the four official .gz files elsewhere and copy them into {cache_dir(name)}")
    lines.append("  - or use load_spiral(), which needs no files")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Reading folders
# --------------------------------------------------------------------------------------------


def _load_user_folder(folder: Path, files: Mapping[str, Path]) -> dict[str, np.ndarray]:
    """Structural validation only; cached as .npz keyed by the folder and its files' stat()."""
    npz_path, stale_prefix = _user_npz_path(folder, files)
    raw = _read_npz(npz_path)
    if raw is not None:
        return raw
    arrays = {base: _parse_idx(_read_idx_bytes(path)[0], path) for base, path in files.items()}
    raw = _assemble(arrays, files)
    _write_npz(npz_path, raw)
    # Older conversions of this folder are stale by construction; don't let them pile up.
    for old in npz_path.parent.glob(stale_prefix + "*.npz"):
        if old != npz_path:
            _unlink_quietly(old)
    return raw


def _load_verified_folder(name: str, files: Mapping[str, Path]) -> tuple[dict[str, np.ndarray] | None, dict[str, str]]:
    """Parse the four files if every one matches DIGESTS; else (None, {base name: why not})."""
    digests = DIGESTS[name]
    bad: dict[str, str] = {}
    payloads: dict[str, bytes] = {}
    for base, path in files.items():
        try:
            data, gz_md5 = _read_idx_bytes(path)
        except DatasetError as exc:
            bad[base] = str(exc)
            continue
        if not _digest_ok(digests.get(base), gz_md5, data):
            bad[base] = f"{path.name}: digest does not match the official file"
            continue
        payloads[base] = data
    if bad:
        return None, bad
    arrays = {base: _parse_idx(data, files[base]) for base, data in payloads.items()}
    return _assemble(arrays, files), {}


def _digest_ok(digest: Digest | None, gz_md5: str | None, data: bytes) -> bool:
    if digest is None:
        return False
    if gz_md5 is not None and digest.gzip_md5 is not None and gz_md5 == digest.gzip_md5:
        return True
    return digest.sha256 is not None and hashlib.sha256(data).hexdigest() == digest.sha256


def _assemble(arrays: Mapping[str, np.ndarray], files: Mapping[str, Path]) -> dict[str, np.ndarray]:
    """Check roles (images ndim 3, labels ndim 1), counts and image sizes; name the raw arrays."""
    raw: dict[str, np.ndarray] = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images_name, labels_name = f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"
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
    if raw["x_train"].shape[1:] != raw["x_test"].shape[1:]:
        raise DatasetError(
            f"training images are {raw['x_train'].shape[1:]} but test images are {raw['x_test'].shape[1:]} "
            f"({files['train-images-idx3-ubyte']}, {files['t10k-images-idx3-ubyte']})"
        )
    return raw


# --------------------------------------------------------------------------------------------
# IDX parsing
# --------------------------------------------------------------------------------------------


def _read_idx_bytes(path: Path) -> tuple[bytes, str | None]:
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


def _parse_idx(data: bytes, path: Path) -> np.ndarray:
    """Parse IDX bytes of unsigned bytes (type code 0x08) into an array of the dims it declares.

    Header: two zero bytes, type code, number of dims, then each dim as a big-endian uint32.
    The payload must hold exactly prod(dims) bytes.
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


# --------------------------------------------------------------------------------------------
# Converted .npz cache
# --------------------------------------------------------------------------------------------


def _official_npz_path(name: str) -> Path:
    # Keyed by the digest table: the same digests mean the same bytes, so this never goes stale.
    key = repr((_NPZ_FORMAT, name, sorted(DIGESTS[name].items()))).encode()
    return cache_dir(name) / f"{name}-{hashlib.sha256(key).hexdigest()[:16]}.npz"


def _user_npz_path(folder: Path, files: Mapping[str, Path]) -> tuple[Path, str]:
    """Cache path for a user folder: hash of its absolute path, then of each file's stat()."""
    folder_key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    stats = []
    for base in IDX_FILES:
        path = files[base].resolve()
        st = path.stat()
        stats.append((str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    stat_key = hashlib.sha256(repr((_NPZ_FORMAT, stats)).encode()).hexdigest()[:16]
    prefix = f"folder-{folder_key}-"
    return cache_dir("folders") / f"{prefix}{stat_key}.npz", prefix


def _read_npz(path: Path) -> dict[str, np.ndarray] | None:
    """The raw arrays from a converted cache file, or None; a corrupt file is deleted."""
    if not path.is_file():
        return None
    try:
        # Open the file ourselves: np.load leaks its handle when the zip is damaged.
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            if sorted(npz.files) != sorted(_NPZ_KEYS):
                raise ValueError(f"keys {npz.files}")
            raw = {key: npz[key] for key in _NPZ_KEYS}
        if any(a.dtype != np.uint8 for a in raw.values()):
            raise ValueError("dtype")
        for split in ("train", "test"):
            x, t = raw[f"x_{split}"], raw[f"t_{split}"]
            if x.ndim != 3 or t.ndim != 1 or x.shape[0] != t.shape[0]:
                raise ValueError("shapes")
        if raw["x_train"].shape[1:] != raw["x_test"].shape[1:]:
            raise ValueError("image sizes")
    except Exception:  # any kind of damage: the cache is rebuilt from the source files
        _unlink_quietly(path)
        return None
    return raw


def _write_npz(path: Path, raw: Mapping[str, np.ndarray]) -> None:
    """Write atomically (temp file in the same folder, then rename); a cache that cannot be
    written (read-only home, full disk) only costs speed, so errors are ignored."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{key: raw[key] for key in _NPZ_KEYS})
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            _unlink_quietly(Path(tmp))


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


# --------------------------------------------------------------------------------------------
# Downloading
# --------------------------------------------------------------------------------------------


def _user_agent() -> str:
    import chainrule  # at call time: the package is fully imported by then

    return f"chainrule/{getattr(chainrule, '__version__', 'unknown')}"


def _download_missing(name: str, cache: Path, looked: list[str]) -> dict[str, Path]:
    """Download every IDX file the cache folder lacks; return the four paths."""
    pretty = _PRETTY[name]
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"{pretty}: cannot create the cache folder {cache} ({exc.strerror or exc})") from exc
    files, missing = _find_files(cache)
    for base in missing:
        dest = cache / (base + ".gz")
        errors: list[str] = []
        for mirror in MIRRORS.get(name, ()):
            url = mirror + base + ".gz"
            try:
                _download(url, dest, DIGESTS[name].get(base))
            except DatasetError as exc:
                errors.append(f"{url}: {exc}")
                continue
            files[base] = dest
            break
        else:
            raise DatasetError(
                f"{pretty}: could not download {base}.gz from any mirror.\nLooked in:\n"
                + "".join(f"  - {line}\n" for line in looked)
                + "Tried:\n"
                + ("".join(f"  - {e}\n" for e in errors) or "  - (no mirrors configured)\n")
                + _ways_out(name)
            )
    return files


def _download(url: str, dest: Path, digest: Digest | None, *, progress: bool | None = None) -> None:
    """Fetch ``url`` to ``dest`` (a gzipped IDX file), verified against ``digest``.

    Streams into a temp file beside ``dest`` and renames it into place only once complete and
    verified, so ``dest`` is either absent or genuine. ``progress``: show a tqdm bar on stderr
    (None: only when stderr is a terminal). Every failure (HTTP error, timeout, refused
    connection, short read, checksum mismatch) raises :class:`DatasetError` saying what
    happened; the caller moves on to the next mirror.
    """
    import urllib.error
    import urllib.request

    if digest is None:
        raise DatasetError("no digest known for this file, refusing to trust a download")
    show = bool(getattr(sys.stderr, "isatty", lambda: False)()) if progress is None else progress
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix="." + dest.name + ".", suffix=".part")
    tmp = Path(tmp_name)
    done = False
    try:
        md5 = hashlib.md5()
        received = 0
        request = urllib.request.Request(url, headers={"User-Agent": _user_agent()})
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                length_header = response.headers.get("Content-Length")
                expected = int(length_header) if length_header and length_header.isdigit() else None
                bar = _progress_bar(show, expected, dest.name)
                try:
                    while True:
                        chunk = response.read(_CHUNK)
                        if not chunk:
                            break
                        out.write(chunk)
                        md5.update(chunk)
                        received += len(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
                finally:
                    if bar is not None:
                        bar.close()
        except urllib.error.HTTPError as exc:
            raise DatasetError(f"HTTP {exc.code} {exc.reason}") from exc
        except urllib.error.URLError as exc:
            raise DatasetError(f"cannot connect ({exc.reason})") from exc
        except TimeoutError as exc:
            raise DatasetError(f"timed out after {TIMEOUT:g} s") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise DatasetError(f"transfer failed ({type(exc).__name__}: {exc})") from exc
        except Exception as exc:  # whatever else goes wrong, the next mirror gets its turn
            raise DatasetError(f"download failed ({type(exc).__name__}: {exc})") from exc
        if expected is not None and received != expected:
            raise DatasetError(f"interrupted transfer: received {received} of {expected} bytes")
        if received == 0:
            raise DatasetError("empty response")
        if not (digest.gzip_md5 is not None and md5.hexdigest() == digest.gzip_md5):
            # Not the upstream gzip bytes; a recompressed copy passes on the SHA-256 of its content.
            try:
                data, _ = _read_idx_bytes(tmp)
            except DatasetError as exc:
                raise DatasetError(f"checksum mismatch and unreadable content ({exc})") from exc
            if digest.sha256 is None or hashlib.sha256(data).hexdigest() != digest.sha256:
                raise DatasetError(
                    f"checksum mismatch (MD5 {md5.hexdigest()}, expected {digest.gzip_md5 or 'n/a'}; "
                    f"SHA-256 of content {hashlib.sha256(data).hexdigest()}, "
                    f"expected {digest.sha256 or 'n/a'})"
                )
        os.replace(tmp, dest)
        done = True
    finally:
        # On any failure (Ctrl-C included) leave nothing behind that a later run could trust.
        if not done:
            _unlink_quietly(tmp)


def _progress_bar(show: bool, total: int | None, desc: str) -> Any:
    if not show:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None

    class _Bar(tqdm):  # type: ignore[misc, valid-type]
        # No monitor thread: it would outlive the download (a subclass attribute, so tqdm's own
        # setting for everyone else is left alone).
        monitor_interval = 0

    return _Bar(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False)


# --------------------------------------------------------------------------------------------
# Conversion to the book's conventions
# --------------------------------------------------------------------------------------------


def _float_dtype(dtype: Any, func: str) -> np.dtype:
    try:
        result = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"{func}: dtype must be a floating-point type, got {dtype!r}") from exc
    if result.kind != "f":
        raise ValueError(f"{func}: dtype must be a floating-point type, got {result}")
    return result


def _one_hot(t: np.ndarray, n_classes: int, dtype: np.dtype) -> np.ndarray:
    out = np.zeros((t.shape[0], n_classes), dtype=dtype)
    out[np.arange(t.shape[0]), t] = 1
    return out


def _convert(
    raw: Mapping[str, np.ndarray], normalize: bool, flatten: bool, one_hot_label: bool, dtype: Any
) -> tuple[Split, Split]:
    n_classes = max(10, int(max(raw["t_train"].max(initial=0), raw["t_test"].max(initial=0))) + 1)
    out: list[Split] = []
    for split in ("train", "test"):
        x, t = raw[f"x_{split}"], raw[f"t_{split}"].astype(np.int64)
        if normalize:
            x = x.astype(dtype)
            x /= dtype.type(255.0)  # the book's x / 255.0; division keeps 255 exactly at 1.0
        x = x.reshape(x.shape[0], -1) if flatten else x.reshape(x.shape[0], 1, *x.shape[1:])
        if one_hot_label:
            t = _one_hot(t, n_classes, dtype)
        out.append((x, t))
    return out[0], out[1]
