"""The one exception every problem with a data set raises."""

from __future__ import annotations

__all__ = ["DatasetError"]


class DatasetError(Exception):
    """A data set could not be found, downloaded, verified or parsed.

    The message names the file, folder or URL concerned and what was wrong with it.
    """
