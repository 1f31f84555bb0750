"""How many threads the BLAS library under NumPy (OpenBLAS, MKL, BLIS) may use, for a block of code.

A training step of the book's networks multiplies small matrices (a batch of 100 by 784 × 50):
splitting each product over threads gains little, and loses much when another program competes
for the cores. On the 2-core machine of README's "Performance" section two threads were up to
17 % faster when nothing else ran, and one thread 1.6× faster beside one busy process
(``python benchmarks/bench_training.py`` measures it). So ``chainrule train`` runs with
:data:`TRAINING_THREADS` BLAS threads unless told otherwise (``--threads``, or one of
:data:`ENV_VARIABLES` set in the environment). In a program of your own: ``with
chainrule.blas_threads(1): ...`` (threadpoolctl) or ``OPENBLAS_NUM_THREADS=1 python train.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from chainrule._checks import check_int

__all__ = ["ENV_VARIABLES", "TRAINING_THREADS", "blas_threads", "training_threads"]

#: The environment variables through which BLAS libraries take a thread count at start.
ENV_VARIABLES: tuple[str, ...] = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")

#: BLAS threads of ``chainrule train`` unless ``--threads`` or the environment says otherwise.
TRAINING_THREADS = 1


@contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Limit the BLAS library to ``n`` threads inside the block, restoring its count after.

    ``None`` leaves it as it is. Uses threadpoolctl, which finds the BLAS NumPy loaded.
    """
    if n is None:
        yield
        return
    check_int(n, "n", "blas_threads")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n, user_api="blas"):
        yield


def training_threads(requested: int | None, environ: Mapping[str, str] | None = None) -> int | None:
    """The BLAS thread count a training command uses: ``requested`` when given; None (the
    library's own choice) when the environment sets one of :data:`ENV_VARIABLES`; else
    :data:`TRAINING_THREADS`."""
    if requested is not None:
        return check_int(requested, "threads", "training")
    env = os.environ if environ is None else environ
    if any(env.get(name) for name in ENV_VARIABLES):
        return None
    return TRAINING_THREADS
