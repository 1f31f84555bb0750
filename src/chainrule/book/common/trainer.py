"""The book's ``common/trainer.py``: ``Trainer`` with its interface, its sampling and its printed log.

``Trainer(network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100,
optimizer='SGD', optimizer_param={'lr': 0.01}, evaluate_sample_num_per_epoch=None,
verbose=True)``; ``train()`` runs ``int(epochs · max(N / mini_batch_size, 1))`` steps, each on a
mini-batch drawn with replacement, and evaluates (on the first ``evaluate_sample_num_per_epoch``
samples, if given) at the first step of each epoch, as the book's does; ``train_loss_list``,
``train_acc_list`` and ``test_acc_list`` hold what it recorded. With ``verbose`` it prints the
book's lines (``train loss:``, ``=== epoch:...``, the final test accuracy) — the book's API
prints, chainrule's :class:`chainrule.train.Trainer` reports through callbacks instead.
Mini-batches come from a Generator seeded from NumPy's global one (``np.random.seed`` applies).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from chainrule._checks import check_int
from chainrule._rng import as_generator
from chainrule.optim import OPTIMIZERS, make_optimizer

__all__ = ["Trainer"]


class Trainer:
    """The book's neural-network trainer (see the module docstring)."""

    def __init__(
        self,
        network: Any,
        x_train: Any,
        t_train: Any,
        x_test: Any,
        t_test: Any,
        epochs: int = 20,
        mini_batch_size: int = 100,
        optimizer: str = "SGD",
        optimizer_param: Mapping[str, Any] | None = None,
        evaluate_sample_num_per_epoch: int | None = None,
        verbose: bool = True,
        *,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        self.network = network
        self.verbose = verbose
        self.x_train, self.t_train = np.asarray(x_train), np.asarray(t_train)
        self.x_test, self.t_test = np.asarray(x_test), np.asarray(t_test)
        self.epochs = check_int(epochs, "epochs", "Trainer", minimum=0)
        self.batch_size = check_int(mini_batch_size, "mini_batch_size", "Trainer")
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch
        if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
            raise ValueError(f"Trainer: optimizer must be one of {', '.join(OPTIMIZERS)} (any case), got {optimizer!r}")
        self.optimizer = make_optimizer(
            optimizer.lower(), **dict({"lr": 0.01} if optimizer_param is None else optimizer_param)
        )
        self.rng = as_generator(seed)
        self.train_size = self.x_train.shape[0]
        self.iter_per_epoch = max(self.train_size / self.batch_size, 1)
        self.max_iter = int(self.epochs * self.iter_per_epoch)
        self.current_iter = 0
        self.current_epoch = 0
        self.train_loss_list: list[float] = []
        self.train_acc_list: list[float] = []
        self.test_acc_list: list[float] = []

    def train_step(self) -> None:
        """One mini-batch step; an evaluation first in each epoch, as the book's (it checks the step count)."""
        batch_mask = self.rng.choice(self.train_size, self.batch_size)
        x_batch, t_batch = self.x_train[batch_mask], self.t_train[batch_mask]
        grads = self.network.gradient(x_batch, t_batch)
        self.optimizer.update(self.network.params, grads)
        loss = self.network.loss(x_batch, t_batch)
        self.train_loss_list.append(loss)
        if self.verbose:
            print("train loss:" + str(loss))
        if self.current_iter % self.iter_per_epoch == 0:
            self.current_epoch += 1
            x_train_sample, t_train_sample = self.x_train, self.t_train
            x_test_sample, t_test_sample = self.x_test, self.t_test
            if self.evaluate_sample_num_per_epoch is not None:
                k = self.evaluate_sample_num_per_epoch
                x_train_sample, t_train_sample = self.x_train[:k], self.t_train[:k]
                x_test_sample, t_test_sample = self.x_test[:k], self.t_test[:k]
            train_acc = self.network.accuracy(x_train_sample, t_train_sample)
            test_acc = self.network.accuracy(x_test_sample, t_test_sample)
            self.train_acc_list.append(train_acc)
            self.test_acc_list.append(test_acc)
            if self.verbose:
                print(f"=== epoch:{self.current_epoch}, train acc:{train_acc}, test acc:{test_acc} ===")
        self.current_iter += 1

    def train(self) -> None:
        """All ``max_iter`` steps, then the test accuracy on the whole test set."""
        for _ in range(self.max_iter):
            self.train_step()
        test_acc = self.network.accuracy(self.x_test, self.t_test)
        if self.verbose:
            print("=============== Final Test Accuracy ===============")
            print("test acc:" + str(test_acc))
