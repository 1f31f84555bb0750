"""BLAS threads (chainrule/threads.py): the training steps' thread count, and its default."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from chainrule import TwoLayerNet, blas_threads
from chainrule.optim import SGD
from chainrule.threads import ENV_VARIABLES, TRAINING_THREADS, training_threads
from chainrule.train import Trainer


def blas_counts() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_blas_threads_limits_inside_the_block_and_restores_after():
    before = blas_counts()
    assert before, "NumPy's BLAS should be visible to threadpoolctl"
    with blas_threads(1):
        assert blas_counts() == [1] * len(before)
    assert blas_counts() == before
    with blas_threads(None):  # None: left as it is
        assert blas_counts() == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_blas_threads_takes_a_positive_integer(bad):
    with pytest.raises((TypeError, ValueError), match="blas_threads"):
        with blas_threads(bad):
            pass


def test_the_training_default_is_one_thread_unless_asked_or_set_in_the_environment():
    assert TRAINING_THREADS == 1
    assert training_threads(None, environ={}) == 1
    assert training_threads(3, environ={}) == 3
    for name in ENV_VARIABLES:
        assert training_threads(None, environ={name: "2"}) is None  # the environment's choice stands
        assert training_threads(2, environ={name: "4"}) == 2  # an explicit --threads wins
    assert training_threads(None, environ={"OMP_NUM_THREADS": ""}) == 1  # empty means unset


def test_the_trainer_runs_its_steps_with_step_threads_and_evaluates_with_the_librarys_count():
    r = np.random.default_rng(0)
    x, t = r.random((40, 6)), r.integers(0, 3, 40)
    net = TwoLayerNet(6, 5, 3, seed=0)
    seen = {"steps": set(), "epochs": set()}

    class Watch:
        def on_batch_end(self, trainer, iteration, loss):
            seen["steps"].add(tuple(blas_counts()))

        def on_epoch_end(self, trainer, row):
            seen["epochs"].add(tuple(blas_counts()))

    trainer = Trainer(net, SGD(lr=0.1), x, t, x, t, epochs=2, batch_size=10, rng=0, callbacks=[Watch()])
    trainer.step_threads = 1
    before = tuple(blas_counts())
    trainer.fit()
    assert seen["steps"] == {(1,) * len(before)}
    assert seen["epochs"] == {before}
    assert tuple(blas_counts()) == before
