"""The exceptions every problem with a data set raises, and the facts they carry.

``str(error)`` speaks Python (``data_dir=``, ``load_spiral()``). A front end words its own
message from the facts: :meth:`DatasetError.cli_message` for the command line's spelling of a
simple error, and the fields of :class:`DatasetNotFoundError` (where it looked, what it tried)
for the ways out of a missing data set.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

__all__ = ["DatasetError", "DatasetNotFoundError", "Place"]


class DatasetError(Exception):
    """A data set could not be found, downloaded, verified or parsed.

    The message names the file, folder or URL concerned and what was wrong with it. ``cli``:
    the same message as the command line says it (``--data-dir DIR`` for ``data_dir=``), when
    it differs.
    """

    def __init__(self, message: str, *, cli: str | None = None) -> None:
        super().__init__(message)
        self._cli = cli

    def cli_message(self) -> str:
        """The message in the command line's words."""
        return self._cli if self._cli is not None else str(self)


class Place(NamedTuple):
    """A place the lookup looked at and why it did not serve.

    ``source``: "$CHAINRULE_DATA", "cache", "old cache" or "system"; ``folder``: the folder
    (None when ``$CHAINRULE_DATA`` is not set); ``why``: "no such folder", "missing ...",
    "failed verification: ...".
    """

    source: str
    folder: Path | None
    why: str

    def __str__(self) -> str:
        return f"{self.source}: {self.why}" if self.folder is None else f"{self.source}: {self.folder} ({self.why})"


class DatasetNotFoundError(DatasetError):
    """A data set is in none of the places looked at, and was not (or could not be) downloaded.

    Fields: ``dataset`` ("mnist", "fashion-mnist") and its ``title`` ("MNIST"); ``needed``, the
    IDX files (base names) the load needed, all four or one split's two; ``looked``, the
    :class:`Place` entries in lookup order; ``cache``, the folder downloads go to;
    ``failed_download``, the file no mirror delivered (None when no download was tried); ``tried``,
    one ``"url: why"`` line per mirror tried for it.
    """

    def __init__(
        self,
        message: str,
        *,
        dataset: str,
        title: str,
        needed: Sequence[str],
        looked: Sequence[Place],
        cache: Path,
        failed_download: str | None = None,
        tried: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.title = title
        self.needed = tuple(needed)
        self.looked = tuple(looked)
        self.cache = cache
        self.failed_download = failed_download
        self.tried = tuple(tried)
