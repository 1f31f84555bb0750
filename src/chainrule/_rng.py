"""The one way chainrule turns a seed into randomness: a ``np.random.Generator``.

With ``seed=None`` the Generator's seed is drawn from NumPy's global generator, so the book's
``np.random.seed(0)`` at the top of a program makes chainrule's networks, dropout masks and
shuffling repeatable too (and without it, each run differs, as NumPy's own global state does).
"""

from __future__ import annotations

import numpy as np

from chainrule._checks import is_int

__all__ = ["as_generator"]

_SEED_BOUND = np.iinfo(np.int64).max


def as_generator(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Return ``seed`` if it is a Generator, else a new Generator seeded with it; None draws the
    seed from NumPy's global generator (``np.random.seed`` makes it repeatable)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng(int(np.random.randint(_SEED_BOUND, dtype=np.int64)))
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, a numpy Generator or None, got {seed!r}")
    return np.random.default_rng(seed)
