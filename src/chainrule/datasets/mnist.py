"""The MNIST and Fashion-MNIST loaders: find the files (see :mod:`.sources`), convert to the book's format."""

from __future__ import annotations

import os
from typing import Any, Literal, overload

import numpy as np

from chainrule._checks import check_float_dtype
from chainrule.datasets.convert import Split, check_split, to_book_format
from chainrule.datasets.download import Progress, progress_factory
from chainrule.datasets.sources import find_raw

__all__ = ["load_fashion_mnist", "load_mnist"]


@overload
def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    dtype: Any = np.float32,
    download: bool = True,
    progress: Progress = False,
    split: None = None,
) -> tuple[Split, Split]: ...


@overload
def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    dtype: Any = np.float32,
    download: bool = True,
    progress: Progress = False,
    split: Literal["train", "test"],
) -> Split: ...


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    dtype: Any = np.float32,
    download: bool = True,
    progress: Progress = False,
    split: str | None = None,
) -> tuple[Split, Split] | Split:
    """Load MNIST (60,000 training and 10,000 test images of handwritten digits, 28x28).

    Returns ``(x_train, t_train), (x_test, t_test)``:
    x ``(N, 784)`` (``flatten=True``) or ``(N, 1, 28, 28)``; float ``dtype`` in [0, 1] when
    ``normalize=True``, else ``uint8`` 0-255 (``dtype`` ignored). t ``(N,)`` int64 class
    indices, or ``(N, C)`` one-hot in ``dtype`` with C = max(10, largest label + 1).

    ``data_dir`` names a folder holding the four IDX files (gzipped or not); it must be
    complete. Without it the data are looked up as the package docstring describes and, when
    ``download=True``, downloaded into the user cache. ``progress`` says how a download
    reports its progress: False/None (the default) nothing, True a tqdm bar on stderr
    (:func:`chainrule.progress.download_bar`), or a callable ``progress(file_name, total_bytes)``
    (total None when the server does not say) returning an object with ``update(n_bytes)``
    and ``close()``.

    ``split="test"`` (or ``"train"``) returns that split alone, ``(x_test, t_test)``, and needs
    only its two files (``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``): a folder with
    just those will do, and only they are downloaded. Raises :class:`DatasetError` (its
    subclass :class:`DatasetNotFoundError` when the files are nowhere).
    """
    return _load_idx_dataset("mnist", normalize, flatten, one_hot_label, data_dir, dtype, download, progress, split)


@overload
def load_fashion_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    dtype: Any = np.float32,
    download: bool = True,
    progress: Progress = False,
    split: None = None,
) -> tuple[Split, Split]: ...


@overload
def load_fashion_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    dtype: Any = np.float32,
    download: bool = True,
    progress: Progress = False,
    split: Literal["train", "test"],
) -> Split: ...


def load_fashion_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    dtype: Any = np.float32,
    download: bool = True,
    progress: Progress = False,
    split: str | None = None,
) -> tuple[Split, Split] | Split:
    """Load Fashion-MNIST (Zalando's 28x28 clothing images, 60,000 train / 10,000 test).

    Same arguments (``progress`` and ``split`` included), shapes and conventions as :func:`load_mnist`;
    class names are in ``CLASS_NAMES["fashion-mnist"]``. On Debian,
    ``apt-get install dataset-fashion-mnist`` provides the files offline.
    """
    return _load_idx_dataset(
        "fashion-mnist", normalize, flatten, one_hot_label, data_dir, dtype, download, progress, split
    )


def _load_idx_dataset(
    name: str,
    normalize: bool,
    flatten: bool,
    one_hot_label: bool,
    data_dir: str | os.PathLike[str] | None,
    dtype: Any,
    download: bool,
    progress: Progress,
    split: str | None,
) -> tuple[Split, Split] | Split:
    func = "load_" + name.replace("-", "_")
    if normalize or one_hot_label:
        dtype = check_float_dtype(dtype, func, allowed=None)
    check_split(split, func)
    # Checked before the lookup, so a bad value fails every time, not only when a download runs.
    factory = progress_factory(progress, func)
    raw = find_raw(name, data_dir, download, factory, split)
    return to_book_format(raw, normalize, flatten, one_hot_label, dtype)
