"""The one way chainrule turns a seed into randomness: a ``np.random.Generator``."""

from __future__ import annotations

import numpy as np

from chainrule._checks import is_int

__all__ = ["as_generator"]


def as_generator(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Return ``seed`` if it is a Generator, else a new Generator seeded with it (None: fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (not is_int(seed) or seed < 0):
        raise ValueError(f"seed must be a non-negative integer, a numpy Generator or None, got {seed!r}")
    return np.random.default_rng(seed)
