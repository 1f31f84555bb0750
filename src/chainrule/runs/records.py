"""What run.json records besides the settings: the data set's fingerprint and the library versions."""

from __future__ import annotations

import hashlib
import platform
from typing import Any

import numpy as np

from chainrule._version import __version__

__all__ = ["dataset_fingerprint", "library_versions"]


def _sha256(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape};".encode())
        digest.update(memoryview(a).cast("B"))
    return digest.hexdigest()


def dataset_fingerprint(
    name: str, x_train: np.ndarray, t_train: np.ndarray, x_test: np.ndarray, t_test: np.ndarray
) -> dict[str, Any]:
    """Identity of a data set as trained on: name, sizes, shapes and SHA-256 of the arrays' bytes.

    Two loads of the same data in the same dtype give the same fingerprint; a resume checks it.
    """
    return {
        "name": name,
        "n_train": int(x_train.shape[0]),
        "n_test": int(x_test.shape[0]),
        "sample_shape": list(x_train.shape[1:]),
        "dtype": str(x_train.dtype),
        "train_sha256": _sha256(x_train, t_train),
        "test_sha256": _sha256(x_test, t_test),
    }


def library_versions() -> dict[str, str]:
    """Versions of chainrule, NumPy and Python (recorded in run.json)."""
    return {"chainrule": __version__, "numpy": np.__version__, "python": platform.python_version()}
