"""The data sets by name: :data:`DATASET_NAMES`, their :data:`CLASS_NAMES` and :func:`load_dataset`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, overload

from chainrule.datasets.convert import Split, check_split
from chainrule.datasets.errors import DatasetError
from chainrule.datasets.mnist import load_fashion_mnist, load_mnist
from chainrule.datasets.spiral import load_spiral

__all__ = ["CLASS_NAMES", "DATASET_NAMES", "load_dataset"]

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


@overload
def load_dataset(name: str, *, split: None = None, **kwargs: Any) -> tuple[Split, Split]: ...


@overload
def load_dataset(name: str, *, split: Literal["train", "test"], **kwargs: Any) -> Split: ...


def load_dataset(name: str, *, split: str | None = None, **kwargs: Any) -> tuple[Split, Split] | Split:
    """Load a data set by name: one of :data:`DATASET_NAMES` ("mnist", "fashion-mnist", "spiral").

    Keyword arguments go to :func:`load_mnist`, :func:`load_fashion_mnist` or
    :func:`load_spiral`, so ``(x_train, t_train), (x_test, t_test)`` have the shapes those
    describe; ``split="train"`` or ``"test"`` returns that split alone (for the file data sets,
    only its two files are needed). For the generated spiral, ``download`` and ``progress`` are
    accepted and ignored (there is nothing to download), as is ``data_dir=None``; any other
    ``data_dir`` raises :class:`DatasetError`. An unknown name raises :class:`DatasetError`
    listing the valid ones.
    """
    loaders: dict[str, Callable[..., Any]] = {
        "mnist": load_mnist,
        "fashion-mnist": load_fashion_mnist,
        "spiral": load_spiral,
    }
    key = name.strip().lower().replace("_", "-") if isinstance(name, str) else name
    if key not in loaders:
        raise DatasetError(f"unknown data set {name!r}; expected one of: {', '.join(DATASET_NAMES)}")
    if key == "spiral":
        # Front ends pass the file loaders' arguments whatever the data set; only a folder given
        # for the spiral is a mistake (it would be silently unused).
        data_dir = kwargs.pop("data_dir", None)
        if data_dir is not None:
            raise DatasetError(
                f"data_dir applies to mnist and fashion-mnist; spiral is generated, not read from files "
                f"(got data_dir={data_dir!r})"
            )
        kwargs.pop("download", None)
        kwargs.pop("progress", None)
        check_split(split, "load_dataset")
        train, test = load_spiral(**kwargs)
        if split is None:
            return train, test
        return train if split == "train" else test
    return loaders[key](split=split, **kwargs)
