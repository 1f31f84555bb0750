"""Data sets for the book's experiments: MNIST, Fashion-MNIST and a built-in 2-D spiral.

Every loader returns the book's shape, ``(x_train, t_train), (x_test, t_test)``:

- images ``x``: ``(N, rows*cols)`` when ``flatten=True``, else ``(N, 1, rows, cols)``; values in
  [0, 1] in ``dtype`` when ``normalize=True``, else the raw 0-255 values as ``uint8``;
- labels ``t``: class indices ``(N,)`` int64, or one-hot ``(N, C)`` in ``dtype`` when
  ``one_hot_label=True``.

MNIST-style files are looked for, in this order: ``data_dir`` (if given), ``$CHAINRULE_DATA``
(first its ``<dataset>/`` subfolder, then the folder itself), the converted ``.npz`` and the
downloaded files in the user cache (:func:`cache_dir`: ``$XDG_CACHE_HOME/chainrule/<dataset>/``,
else the platform's user cache folder from ``platformdirs``, ``~/.cache`` on Linux), the old
``~/.cache/chainrule/<dataset>/`` where that differs, the system folders in :data:`SYSTEM_DIRS`
(Debian's ``dataset-fashion-mnist`` package), and finally the mirrors in :data:`MIRRORS` when
``download=True``. Files in folders the user names are checked structurally only (so you can
bring your own IDX data); files in the cache, in system folders and downloaded files must also
match :data:`DIGESTS`. ``split="test"`` (or ``"train"``) loads one split and needs only its
two files. Every problem with the data raises :class:`DatasetError`; a data set found nowhere
raises its subclass :class:`DatasetNotFoundError`, whose fields (where it looked, what it
tried) let a front end word the ways out itself. Downloads report progress only when asked
(``progress=True`` for a tqdm bar, or a callable factory).

:func:`locate` says where a data set would be loaded from (and whether its files match the
official digests) without loading or downloading; :func:`download_dataset` fetches the official
files into the user cache; ``chainrule data`` is their command line.

The modules, each importing only those listed before it:

- ``errors``: :class:`DatasetError`, :class:`DatasetNotFoundError` and its :class:`Place` entries;
- ``idx``: the IDX format (streamed reading and gunzipping, parsing), :data:`IDX_FILES`, :class:`Digest`;
- ``cache``: :func:`cache_dir` and the converted ``.npz`` copies kept there;
- ``download``: HTTP downloads (:data:`TIMEOUT`), verified, trying mirrors in turn;
- ``sources``: the lookup chain above and its tables :data:`DIGESTS`, :data:`MIRRORS`,
  :data:`SYSTEM_DIRS`; :func:`locate` and :func:`download_dataset`;
- ``convert``: the book's conventions (scaling, flattening, one-hot);
- ``spiral``, ``mnist``: the loaders; ``catalog``: the data sets by name and :func:`load_dataset`.

The tables are read when a loader runs: change ``DIGESTS``, ``MIRRORS`` and ``SYSTEM_DIRS`` in
place, or set ``chainrule.datasets.download.TIMEOUT`` (and ``MIN_RATE``, ``MAX_BYTES``,
``STALE_PART_AGE``) on its module.

Limits: IDX files are read in a stream, no further than their headers declare (a raw file's size
is checked first, a gzipped one is never inflated past the declared size); downloads are bounded
in time (``TIMEOUT`` per wait, ``MIN_RATE`` on average) and in size (the official size in
``DIGESTS``); the converted ``.npz`` carries the SHA-256 of its arrays; chainrule deletes only
files it wrote itself (see :mod:`chainrule.datasets.cache`), never through a symlink or because
a file cannot be read.
"""

from chainrule.datasets.cache import cache_dir
from chainrule.datasets.catalog import CLASS_NAMES, DATASET_NAMES, load_dataset
from chainrule.datasets.convert import shuffle_dataset
from chainrule.datasets.download import TIMEOUT
from chainrule.datasets.errors import DatasetError, DatasetNotFoundError, Place
from chainrule.datasets.idx import IDX_FILES, Digest
from chainrule.datasets.mnist import load_fashion_mnist, load_mnist
from chainrule.datasets.sources import (
    DIGESTS,
    MIRRORS,
    SYSTEM_DIRS,
    Downloaded,
    FileCheck,
    Location,
    download_dataset,
    locate,
)
from chainrule.datasets.spiral import load_spiral

__all__ = [
    "CLASS_NAMES",
    "DATASET_NAMES",
    "DIGESTS",
    "MIRRORS",
    "SYSTEM_DIRS",
    "IDX_FILES",
    "TIMEOUT",
    "DatasetError",
    "DatasetNotFoundError",
    "Digest",
    "Downloaded",
    "FileCheck",
    "Location",
    "Place",
    "cache_dir",
    "download_dataset",
    "load_dataset",
    "load_fashion_mnist",
    "load_mnist",
    "load_spiral",
    "locate",
    "shuffle_dataset",
]
